/**
 * MultiChat's page client (multichat.md, "The page's client"): one WebSocket to
 * /chat/stream/ carries every room the user has joined. Other people's text
 * (usernames, messages, room titles) only ever reaches the page through
 * textContent and attribute values, never as markup, each piece in a direction
 * of its own (dir="auto", <bdi>): Hebrew or Arabic reads right to left with its
 * punctuation where its writer put it, and cannot reorder the text around it.
 */
(function () {
  'use strict';

  const STREAM_PATH = '/chat/stream/';
  /**
   * Reconnect delays: 0.5 s doubling to 15 s, each ±50 % so a restarted server is
   * not stampeded. They start again from 0.5 s once a connection has served (it
   * brought a frame, or lasted `stableMs`): one the server accepts and closes at
   * once (overloaded: 1013) is one more failed try, not a reason to come straight back.
   */
  const BACKOFF = Object.freeze({ initialMs: 500, maxMs: 15000, jitter: 0.5, stableMs: 15000 });
  /**
   * How long the session check after a refused handshake may take. With no worker
   * up, Thyme holds the request for its HTTP timeout (120 s by default): the page
   * would say nothing for that long, and only then try again.
   */
  const SESSION_CHECK_TIMEOUT_MS = 5000;
  /**
   * The status through an outage: one that began with a connection dropping, or
   * before the page ever connected. Said once (the live region): the retries
   * within it change only the note beside it.
   */
  const DROPPED = 'Disconnected. Reconnecting…';
  const UNAVAILABLE = 'The chat is unavailable right now. Retrying…';
  /** Closed as its session ended (4001): not "Reconnecting…" until the check says it may. */
  const SESSION_CLOSED = 'Disconnected.';
  /**
   * A re-join the server refused for its rate (a page with more rooms than its
   * burst of commands) goes again after this, give or take: the chat's tokens
   * come back at 10 a second by default.
   */
  const REJOIN_RETRY_MS = 1000;
  /**
   * A send unanswered for this long may never be handled (no worker up, or one
   * stuck), and its box was emptied when it went: it is listed in its pane as not
   * confirmed, until it is.
   */
  const CONFIRM_TIMEOUT_MS = 10000;
  /**
   * A socket silent this long while it owes the page an answer (a command of
   * ours unanswered, or its handshake) is taken for dead: its Thyme frozen, or
   * the path to it dropping packets, which neither TCP nor the browser tells the
   * page (the browser answers Thyme's pings out of its sight). As Socket.IO's and
   * Phoenix's heartbeats, but asked only of a page that is waiting anyway: an
   * idle page costs the server nothing. Past CONFIRM_TIMEOUT_MS, so a send is
   * first said to be unconfirmed; a busy worker has that long to answer.
   */
  const SILENCE_TIMEOUT_MS = 20000;
  /** Older messages are dropped so a long-open tab does not grow without bound. */
  const MAX_MESSAGES_PER_ROOM = 500;
  /** Room frames that may wait for their join's answer (keepEarly); the oldest go first. */
  const MAX_EARLY_FRAMES = 100;
  const ALERT_TIMEOUT_MS = 15000;
  const MAX_ALERTS = 4;
  /** The note on a message of the user's listed in its pane as not sent (unsentItem). */
  const NOT_SENT = 'Not sent';
  /**
   * The alert on sends given back after their connection went (giveBackUnconfirmed):
   * while the page reconnects, and once it knows it will not (the session is over).
   */
  const UNCONFIRMED = Object.freeze({
    reconnecting:
      'The connection dropped before your message was confirmed: it is back in its box, to send again once reconnected.',
    loggedOut:
      'Your session ended before your message was confirmed: it may not have gone. It is back in its box, to copy.',
  });

  const chat = document.querySelector('.chat');
  const panes = document.getElementById('panes');
  const alerts = document.getElementById('alerts');
  const status = document.getElementById('connection-status');
  // The live region: only changes of state go here, so a screen reader hears
  // "disconnected" and "reconnected", not every retry's countdown.
  const statusText = document.getElementById('connection-text');
  const retryNote = document.getElementById('connection-retry');
  /** Where focus goes when the room it was on is gone with no other to go to (roomGone). */
  const roomsHeading = document.getElementById('rooms-heading');
  // Only the chat page has these; every other page just shares the stylesheet.
  if (!chat || !panes || !alerts || !status || !statusText || !retryNote || !roomsHeading) return;
  const me = chat.getAttribute('data-username') || '';
  /**
   * Whose page this is. The socket asks for it (?user=): under another user's
   * session (the browser logged in as someone else meanwhile, in another tab) the
   * handshake is refused, and the page does not go on as a user it does not show.
   */
  const myId = chat.getAttribute('data-user-id') || '';
  /**
   * The protocol's message types (msg_type) and its limit on a message's length,
   * rendered into the page from the server's chat-protocol.ts: one source, so
   * the client cannot drift from what the server sends and accepts.
   */
  const MSG_TYPE = Object.freeze(JSON.parse(chat.getAttribute('data-message-types')));
  const MAX_MESSAGE_LENGTH = Number(chat.getAttribute('data-max-message-length'));
  /** The server closes a socket with this when its session ends (CLOSE_LOGGED_OUT), rendered as those are. */
  const CLOSE_LOGGED_OUT = Number(chat.getAttribute('data-close-logged-out'));
  /** A message's class by its msg_type; enter and leave are drawn as notices (onRoomMessage). */
  const MSG_CLASS = Object.freeze({
    [MSG_TYPE.message]: 'message',
    [MSG_TYPE.warning]: 'warning',
    [MSG_TYPE.alert]: 'alert',
    [MSG_TYPE.muted]: 'muted',
  });

  const ERROR_TEXT = Object.freeze({
    USER_HAS_TO_LOGIN: 'Your session has ended, so you can no longer chat here.',
    // The page's own: the browser's session is now another user's (sessionUser).
    OTHER_USER:
      'This browser has logged in as someone else since this page was loaded, so it no longer chats here. Reload the page to chat as them.',
    ROOM_ACCESS_DENIED: 'You don’t have access to that room: it is for staff only.',
    ROOM_INVALID: 'That room no longer exists. Reload the page to see the current rooms.',
    INVALID_MESSAGE: 'That message could not be sent: it was empty or malformed.',
    MESSAGE_TOO_LONG: `That message is too long: at most ${MAX_MESSAGE_LENGTH} characters.`,
    RATE_LIMITED: 'You are sending too fast. Wait a moment, then try again.',
  });

  /** The last element focused outside the alerts: where focus returns when an alert goes. */
  let lastFocus = null;
  document.addEventListener('focusin', (event) => {
    const target = event.target;
    if (!(target instanceof Element && target.closest('.alerts, .pane-alerts'))) lastFocus = target;
  });

  /** Joined rooms by id: { pane, heading, leave, list, input }. */
  const rooms = new Map();
  /** Rooms re-joined after a reconnect, in the order sent: each gets exactly one reply, in order. */
  let rejoining = [];
  /**
   * Room id → the frames of a room being re-joined with no pane yet (a join the
   * user asked for, lost with its connection: joinsLost), kept for its answer
   * as a join's are (keepEarly).
   */
  const rejoinEarly = new Map();
  /** Re-joins refused for the rate, waiting to go again (their timers). */
  const retries = new Set();
  /** Rooms whose leave is on its way: a keep-alive join now would bring them back. */
  const leaving = new Set();
  /**
   * Rooms the user asked to join whose answer was lost with a connection, or
   * that were asked for while a quiet renewal was opening (renewing): joined
   * with the re-joins once connected (their panes appear then), until answered.
   */
  const joinsLost = new Set();
  /**
   * This socket's commands not yet answered (re-joins aside), oldest first, as
   * sent. The server answers a socket's commands in order: each with its reply (a
   * send's is the sender's own copy of the message, which every member gets) or
   * with a refusal, {"error": CODE}, which names neither room nor text. So a
   * refusal answers the oldest of these, and a send's text is kept here until it
   * is known to have gone (a join's early frames too: keepEarly).
   */
  let awaiting = [];
  /**
   * Room id → how many other sockets of this user (other tabs) are known to be
   * in it, where one has shown itself: it entered after us, or a message of ours
   * came that this page never sent. Its copy of a message is the same frame as
   * our own send's, so there a copy of the text we sent does not prove it was
   * ours (ownMessage). A lower bound: a tab that was in the room first and has
   * said nothing is not known.
   */
  const otherSockets = new Map();
  /** The room whose send box takes focus when its join is confirmed (the user asked for it). */
  let focusOnJoin = null;
  /**
   * The rooms whose sends the "not confirmed" alert (UNCONFIRMED) gave back: it
   * goes once none of them holds one (a late copy proved it sent, or the pane went).
   */
  const unconfirmedRooms = new Set();
  /**
   * Sends were given back, and the alert saying so waits for the session check
   * after a 4001 (sayUnconfirmed): only its answer tells whether the page reconnects.
   */
  let unconfirmedOwed = false;
  let socket = null;
  let attempt = 0;
  let retryTimer = 0;
  /**
   * The session check in flight, if any (its AbortController). A reconnect made
   * meanwhile (back online, a tab shown again) cancels it, as it does a pending
   * try: a page has one retry loop at a time, however many times it is woken.
   */
  let sessionCheck = null;
  let everConnected = false;
  let stopped = false;
  /**
   * The page's login ended: the page no longer connects, and says so when used.
   * False, or why: USER_HAS_TO_LOGIN (logged out), OTHER_USER (sessionUser).
   */
  let loggedOut = false;
  /** When the current socket opened or last carried a command (Date.now()). */
  let lastHeardAt = 0;
  /** When the current socket opened, or 0 until it has. */
  let openedAt = 0;
  /** What the status is to say once the current socket brings its first frame, if anything. */
  let statusOnFrame = '';
  /** When the current socket last brought a frame (Date.now()). */
  let lastFrameAt = 0;
  /** Set while the current socket owes an answer: it fires SILENCE_TIMEOUT_MS after its last frame. */
  let silenceTimer = 0;
  /**
   * The server keeps a socket in its groups (its rooms, and its session's and
   * user's, which a logout elsewhere closes it through) only as long as it hears
   * from it now and then: the layer forgets group members not renewed within a day.
   * So this often, a page with rooms open says "join" again for one of them
   * (joining a room again changes nothing else), and a page with none that has
   * been silent for half of this opens a fresh socket, whose handshake joins
   * those groups anew.
   */
  const KEEP_ALIVE_MS = Number(chat.getAttribute('data-keep-alive-seconds')) * 1000;

  // ——— small DOM helpers ———

  function el(tag, properties, attributes) {
    const node = Object.assign(document.createElement(tag), properties || {});
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    return node;
  }

  function roomButtons(id) {
    return document.querySelectorAll(`.room-link[data-room-id="${CSS.escape(id)}"]`);
  }

  function setPressed(id, pressed) {
    for (const button of roomButtons(id)) button.setAttribute('aria-pressed', String(pressed));
  }

  /** `text` undefined keeps the announced text (a retry within the same outage). */
  function setStatus(state, text, note = '') {
    status.setAttribute('data-state', state);
    chat.setAttribute('data-connection', state);
    if (text !== undefined && statusText.textContent !== text) statusText.textContent = text;
    retryNote.textContent = note;
  }

  function updateEmptyState() {
    const empty = panes.querySelector('.panes-empty');
    if (empty) empty.hidden = rooms.size > 0;
  }

  // ——— alerts (the role="alert" region) ———

  /**
   * `options.room`: the joined room the alert is about. It goes in that room's
   * pane, beside the send box in use, rather than at the top of the page; its
   * words for a screen reader begin with the room's title, since the announcement
   * is all that says where it is. `options.quotes`: texts of the user's that
   * have nowhere else to be (their pane went), shown under it until dismissed.
   * `options.about`: the id of the room a page alert names (one with no pane).
   */
  function showAlert(code, text, options) {
    const quotes = (options && options.quotes) || [];
    const sticky = Boolean(options && options.sticky) || quotes.length > 0;
    const room = options && options.room;
    const about = (options && options.about) || '';
    const region = room ? room.alerts : alerts;
    // One alert of a kind says it all, unless it holds the user's text. Those
    // naming a room are of a kind with that room's only: two rooms closed to
    // the user at once (one admin action, one reconnect's re-joins) are two
    // things to know, and the second must not take the first from view.
    for (const old of region.querySelectorAll('.alert-item')) {
      const same = old.getAttribute('data-code') === code && aboutOf(old) === about;
      if (same && !holdsText(old)) old.remove();
    }
    const item = el(
      'div',
      { className: `alert-item alert-${code.toLowerCase()}` },
      about ? { 'data-code': code, 'data-about': about } : { 'data-code': code },
    );
    const message = el('p');
    if (room)
      message.append(
        el('span', { className: 'visually-hidden', textContent: `${room.heading.textContent}: ` }),
      );
    message.append(text);
    if (options && options.loginLink) {
      const next = encodeURIComponent(location.pathname);
      message.append(
        ' ',
        el('a', { href: `/accounts/login/?next=${next}`, textContent: 'Log in again' }),
        '.',
      );
    }
    const dismiss = el(
      'button',
      { type: 'button', className: 'alert-dismiss', textContent: '×' },
      // Escape does it too (dismissByKey), but for an alert holding the user's text.
      quotes.length === 0
        ? { 'aria-label': 'Dismiss', 'aria-keyshortcuts': 'Escape' }
        : { 'aria-label': 'Dismiss' },
    );
    dismiss.addEventListener('click', () => removeAlert(item));
    if (quotes.length === 0) item.append(message, dismiss);
    else {
      const body = el('div', { className: 'alert-body' });
      body.append(message);
      // Focusable: a long one scrolls, which a keyboard must reach too.
      for (const quote of quotes) {
        const properties = {
          className: 'alert-quote',
          dir: 'auto',
          tabIndex: 0,
          textContent: quote,
        };
        body.append(el('blockquote', properties));
      }
      item.append(body, dismiss);
    }
    region.append(item);
    while (region.children.length > MAX_ALERTS) {
      const children = [...region.children];
      removeAlert(children.find((old) => !holdsText(old)) || children[0]);
    }
    if (!sticky) expireLater(item);
    if (room) item.scrollIntoView({ block: 'nearest' });
    else uncoverFocus();
  }

  /** Whether an alert of that kind is up in `region`. */
  function alertShown(code, region = alerts) {
    return region.querySelector(`.alert-item[data-code="${code}"]`) !== null;
  }

  function holdsText(item) {
    return item.querySelector('.alert-quote') !== null;
  }

  /** The id of the room an alert names (showAlert's `about`), or ''. */
  function aboutOf(item) {
    return item.getAttribute('data-about') || '';
  }

  /**
   * Alerts lie over the top of the page once it is scrolled (chat.css): the
   * control in use must not end up under them (WCAG 2.4.11), so the page moves
   * down by as much as they cover of it.
   */
  function uncoverFocus() {
    const focused = document.activeElement;
    if (!focused || focused === document.body || alerts.contains(focused)) return;
    const box = focused.getBoundingClientRect();
    const over = alerts.getBoundingClientRect();
    const covered = over.bottom - box.top;
    if (box.bottom > over.top && covered > 0 && box.right > over.left && box.left < over.right)
      window.scrollBy(0, -(covered + 8));
  }

  /** Removes an alert; focus inside it goes back to where the user was before. */
  function removeAlert(item) {
    const hadFocus = item.contains(document.activeElement);
    item.remove();
    if (hadFocus && lastFocus && lastFocus.isConnected) lastFocus.focus();
  }

  /**
   * Escape dismisses the newest alert, from wherever the user is: the one in the
   * pane that has focus, else the page's. On a phone the page's alerts lie over
   * the top of the screen, and their × comes before every pane in the page's
   * order: far by Shift+Tab from the send box the user is writing in. An alert
   * holding the user's text (holdsText) goes only by its ×: a key pressed out of
   * habit must not throw away what they wrote.
   */
  function dismissByKey(event) {
    if (event.key !== 'Escape' || event.defaultPrevented || event.isComposing) return;
    const focused = document.activeElement;
    const pane = focused instanceof Element ? focused.closest('.pane') : null;
    const regions = pane ? [pane.querySelector('.pane-alerts'), alerts] : [alerts];
    for (const region of regions) {
      const items = [...region.querySelectorAll('.alert-item')].filter((item) => !holdsText(item));
      if (items.length === 0) continue;
      event.preventDefault();
      removeAlert(items[items.length - 1]);
      return;
    }
  }

  /** Removes the alerts of one kind, such as "reconnecting" once that is over. */
  function clearAlerts(code, region = alerts) {
    for (const item of region.querySelectorAll('.alert-item')) {
      if (item.getAttribute('data-code') === code) removeAlert(item);
    }
  }

  /** An alert goes after a while, but never while the pointer or focus is on it. */
  function expireLater(item) {
    setTimeout(function expire() {
      if (!item.isConnected) return;
      if (!item.matches(':hover') && !item.contains(document.activeElement)) {
        item.remove();
        return;
      }
      let armed = false;
      const again = () => {
        if (armed) return;
        armed = true;
        setTimeout(expire, ALERT_TIMEOUT_MS);
      };
      item.addEventListener('mouseleave', again, { once: true });
      item.addEventListener('focusout', again, { once: true });
    }, ALERT_TIMEOUT_MS);
  }

  /** What the page says of an error code the server (or the page itself) gave. */
  function errorText(code) {
    return ERROR_TEXT[code] || `Something went wrong (${code}).`;
  }

  /**
   * `room`: the joined room it concerns, whose pane shows it (showAlert).
   * `about`: the id of a room with no pane that `prefix` names.
   */
  function showError(code, prefix, room, about) {
    const text = errorText(code);
    const loginLink = code === 'USER_HAS_TO_LOGIN';
    const sticky = loginLink || code === 'OTHER_USER';
    const options = { loginLink, sticky, room: sticky ? undefined : room, about };
    showAlert(code, prefix ? `${prefix} ${text}` : text, options);
  }

  // ——— panes ———

  function createPane(id, title) {
    const base = `room-${id}`;
    const heading = el('h2', { id: `${base}-title`, dir: 'auto', textContent: title });
    const leave = el('button', { type: 'button', className: 'pane-leave', textContent: 'Leave' });
    leave.addEventListener('click', () => command('leave', id));
    const list = el(
      'ol',
      { className: 'messages', tabIndex: 0 },
      { 'aria-live': 'polite', 'aria-labelledby': `${base}-title` },
    );
    const input = el('input', {
      type: 'text',
      id: `${base}-input`,
      name: 'message',
      dir: 'auto',
      autocomplete: 'off',
      placeholder: 'Write a message…',
    });
    const label = el('label', { htmlFor: input.id, className: 'visually-hidden' });
    const form = el('form', { className: 'send-form' });
    const submit = el('button', { type: 'submit', className: 'primary', textContent: 'Send' });
    form.append(label, input, submit);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      sendMessage(id, input);
    });
    // Made with the pane, empty: a live region must exist before its first alert
    // for that alert to be announced.
    const roomAlerts = el(
      'div',
      { className: 'pane-alerts', id: `${base}-alerts` },
      { role: 'alert', 'aria-live': 'assertive' },
    );
    input.setAttribute('aria-describedby', roomAlerts.id);
    const header = el('header', { className: 'pane-header' });
    header.append(heading, leave);
    const pane = el(
      'section',
      { className: 'pane', id: base },
      { 'aria-labelledby': heading.id, 'data-room-id': id },
    );
    // Under the send box: one above it would push the box down, and, with the box
    // at the top of the screen, be itself pushed out of view above it.
    pane.append(header, list, form, roomAlerts);
    const room = { pane, heading, leave, list, input, label, submit, alerts: roomAlerts };
    retitle(room, title);
    panes.append(pane);
    return room;
  }

  /** Titles come from the server's join reply (the room may have been renamed). */
  function retitle(room, title) {
    room.heading.textContent = title;
    room.leave.setAttribute('aria-label', `Leave ${title}`);
    room.label.textContent = `Message to ${title}`;
  }

  /**
   * The room list has the titles of when the page loaded: a join's reply brings
   * the room's up to date (its place in the list stays, not to move a button
   * from under the pointer).
   */
  function retitleListed(id, title) {
    for (const button of roomButtons(id)) {
      const listed = button.querySelector('.room-title');
      if (listed && listed.textContent !== title) listed.textContent = title;
    }
  }

  function appendItem(room, item) {
    const list = room.list;
    // Follow new messages only if the reader is at the bottom already (not reading history).
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    list.append(item);
    while (list.children.length > MAX_MESSAGES_PER_ROOM) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function timeElement() {
    const now = new Date();
    const hh = String(now.getHours()).padStart(2, '0');
    const mm = String(now.getMinutes()).padStart(2, '0');
    return el('time', {
      className: 'time',
      dateTime: now.toISOString(),
      textContent: `${hh}:${mm}`,
    });
  }

  // ——— the protocol ———

  function send(payload) {
    if (loggedOut) {
      showError(loggedOut);
      return false;
    }
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showAlert(
        'NOT_CONNECTED',
        'Not connected right now; reconnecting. Please try again in a moment.',
      );
      return false;
    }
    socket.send(JSON.stringify(payload));
    lastHeardAt = Date.now();
    awaiting.push(payload);
    awaitAnswer(socket);
    if (payload.command === 'send') setTimeout(() => notConfirmed(payload), CONFIRM_TIMEOUT_MS);
    return true;
  }

  /** A send still unanswered: its text in view (to copy), and the user told. */
  function notConfirmed(sent) {
    const room = rooms.get(sent.room);
    if (!room || !awaiting.includes(sent)) return;
    // Its text came back long ago, if perhaps from the other tab: a refusal would
    // have come by now, so it is taken as sent.
    if (sent.echoed) {
      awaiting = awaiting.filter((other) => other !== sent);
      return;
    }
    sent.late = unsentItem(sent.message, 'Not confirmed yet');
    appendItem(room, sent.late);
    // The pane's alert says it of every send there still unconfirmed: made again
    // for the next one, it would be announced again.
    if (alertShown('NOT_CONFIRMED', room.alerts)) return;
    showAlert(
      'NOT_CONFIRMED',
      'The chat server has not confirmed your message yet: it may arrive late, or not at all.',
      { room },
    );
  }

  /**
   * A send's fate is known: what notConfirmed said of it goes. `note`: it did not
   * go, and its item stays where it is, saying so: listed anew, its text would be
   * announced a second time (the list is a live region).
   */
  function settle(sent, note) {
    if (!sent || !sent.late) return;
    if (note) sent.late.querySelector('.unsent-note').textContent = note;
    else sent.late.remove();
    sent.late = undefined;
    const room = rooms.get(sent.room);
    const others = awaiting.filter((other) => other !== sent && other.room === sent.room);
    if (room && !others.some((other) => other.late)) {
      clearAlerts('NOT_CONFIRMED', room.alerts);
    }
  }

  /**
   * The reply to one of our commands has come: that command is answered, and so
   * is every older one, whose reply came before or never will (a copy of a
   * message dropped from a full channel).
   */
  function answered(matches) {
    const index = awaiting.findIndex(matches);
    if (index >= 0) settle(awaiting[index]);
    awaiting.splice(0, index + 1);
  }

  /**
   * A send refused, or perhaps lost with its connection: its text goes back in
   * its room's send box, to send again or edit; if the user is writing something
   * else there by now, into the room's list instead, marked as not sent.
   */
  function giveBack(sent) {
    const room = sent && sent.command === 'send' && rooms.get(sent.room);
    if (!room) return settle(sent);
    if (room.input.value.trim() === '') {
      settle(sent);
      room.input.value = sent.message;
    } else if (sent.late) settle(sent, NOT_SENT);
    else appendItem(room, unsentItem(sent.message));
  }

  /**
   * Whether re-joins are still to be answered. The replies to them are told
   * apart only by their order, so the user's own commands wait till they are in.
   */
  function rejoinsPending() {
    return rejoining.length > 0 || retries.size > 0;
  }

  function showStillRejoining() {
    showAlert('NOT_CONNECTED', 'Still rejoining your rooms. Please try again in a moment.');
  }

  function command(name, id) {
    const open = socket && socket.readyState === WebSocket.OPEN;
    // Offline, the server already dropped the membership with the socket: just close the pane.
    if (name === 'leave' && !open) return removePane(id);
    if (open && !loggedOut && rejoinsPending()) return showStillRejoining();
    if (name === 'join') focusOnJoin = id;
    // The page says it is connected: the join goes with the re-joins once it is.
    if (name === 'join' && renewing()) return void joinsLost.add(id);
    if (send({ command: name, room: id }) && name === 'leave') leaving.add(id);
  }

  /** Whether a quiet renewal (renewSocket) is opening: the status says connected meanwhile. */
  function renewing() {
    return socket !== null && socket.readyState === WebSocket.CONNECTING && showsConnected();
  }

  function sendMessage(id, input) {
    const text = input.value;
    if (text.trim() === '') {
      input.value = '';
      return;
    }
    // Checked here rather than cut by maxlength, which would drop the end of a
    // long paste unseen; the server counts characters (code points) too.
    if ([...text].length > MAX_MESSAGE_LENGTH)
      return showError('MESSAGE_TOO_LONG', '', rooms.get(id));
    if (socket && !loggedOut && rejoinsPending()) return showStillRejoining();
    if (!send({ command: 'send', room: id, message: text })) return;
    input.value = '';
    // A text given back is sent again, or was replaced: the box no longer holds
    // it, and the same text typed there later is not the one a late copy answers.
    const room = rooms.get(id);
    if (room) room.givenBack = undefined;
  }

  function onJoin(id, title) {
    rejoining = rejoining.filter((pending) => pending !== id);
    joinsLost.delete(id);
    const asked = awaitedJoin(id);
    answered((sent) => sent === asked);
    let room = rooms.get(id);
    if (room) {
      retitle(room, title);
      room.pane.classList.remove('is-offline');
    } else {
      room = createPane(id, title);
      rooms.set(id, room);
      updateEmptyState();
    }
    retitleListed(id, title);
    const early = (asked && asked.early) || rejoinEarly.get(id) || [];
    rejoinEarly.delete(id);
    for (const data of early) onRoomMessage(data);
    setPressed(id, true);
    if (focusOnJoin === id) {
      focusOnJoin = null;
      room.input.focus();
    }
  }

  function removePane(id) {
    leaving.delete(id);
    joinsLost.delete(id);
    unconfirmedGone(id);
    // Joined again, the page hears afresh who else is there.
    otherSockets.delete(id);
    const room = rooms.get(id);
    setPressed(id, false);
    if (!room) return;
    const hadFocus = room.pane.contains(document.activeElement);
    room.pane.remove();
    rooms.delete(id);
    updateEmptyState();
    const button = roomButtons(id)[0];
    if (hadFocus && button) button.focus();
  }

  function onLeave(id) {
    answered((sent) => sent.command === 'leave' && sent.room === id);
    // Unasked: the room was deleted.
    if (!leaving.has(id) && rooms.has(id)) return roomGone(id);
    removePane(id);
  }

  /** A room's title as the page shows it: its pane's, else its item's in the list. */
  function titleOf(id) {
    const room = rooms.get(id);
    if (room) return room.heading.textContent;
    const listed = document.querySelector(
      `.room-link[data-room-id="${CSS.escape(id)}"] .room-title`,
    );
    return listed ? listed.textContent : `room ${id}`;
  }

  /**
   * The room was deleted: its pane and its item in the list go, and the user is
   * told which room it was. Focus, if it was on its button, moves to a
   * neighbour's, or, with none left, to the list's heading: not to the page's
   * body, where a screen reader loses its place (and an alert dismissed later
   * has nowhere to give focus back to). `note`: what else the user must know (a message that did not
   * go, `unsent`). What the user wrote there and did not get sent goes with the
   * pane: the alert keeps it, to copy.
   */
  function roomGone(id, note, unsent) {
    const title = titleOf(id);
    const quotes = unwrittenIn(id, unsent);
    if (quotes.length > 0) note = `${note ? `${note} ` : ''}What you wrote there:`;
    removePane(id);
    for (const button of roomButtons(id)) {
      const item = button.closest('li') || button;
      if (item.contains(document.activeElement)) {
        const next = item.nextElementSibling || item.previousElementSibling;
        const target = next && next.querySelector('.room-link');
        (target || roomsHeading).focus();
      }
      item.remove();
    }
    if (!document.querySelector('.room-link')) showNoRooms();
    showAlert('ROOM_DELETED', `The room “${title}” was deleted.${note ? ` ${note}` : ''}`, {
      quotes,
      about: id,
    });
  }

  /** The list's last room is gone: the page says so, as one loaded with none does. */
  function showNoRooms() {
    const hint = document.getElementById('rooms-hint');
    const empty = document.getElementById('rooms-empty');
    if (hint) hint.hidden = true;
    if (empty) empty.hidden = false;
  }

  /** The texts a room's pane holds that did not go: listed as not sent, `unsent`, in its box. */
  function unwrittenIn(id, unsent) {
    const room = rooms.get(id);
    const texts = room
      ? [...room.list.querySelectorAll('li.unsent .text')].map((text) => text.textContent)
      : [];
    if (unsent !== undefined) texts.push(unsent);
    if (room && room.input.value.trim() !== '') texts.push(room.input.value);
    return [...new Set(texts)];
  }

  function onRoomMessage(data) {
    const id = String(data.room);
    const room = rooms.get(id);
    if (!room) return keepEarly(id, data);
    const type = Number(data.msg_type);
    const username = String(data.username ?? '');
    const text = String(data.message ?? '');
    if (type === MSG_TYPE.message && username === me) ownMessage(id, text);
    if (username === me) countOtherSockets(id, type);
    let item;
    if (type === MSG_TYPE.enter || type === MSG_TYPE.leave) {
      const entered = type === MSG_TYPE.enter;
      item = el('li', { className: `notice notice-${entered ? 'enter' : 'leave'}` });
      const text = el('span', { className: 'text' });
      text.append(el('bdi', { textContent: username }), entered ? ' joined' : ' left');
      item.append(timeElement(), text);
    } else {
      const kind = MSG_CLASS[type] || 'message';
      item = messageItem(
        `message message-${kind}${username === me ? ' mine' : ''}`,
        username,
        text,
      );
    }
    appendItem(room, item);
  }

  /**
   * A message of this user's: the answer to our oldest send of that text to that
   * room, unless another tab of the user's is in the room, whose copy of the
   * same text is the same frame. Then it only marks the send as echoed: the send
   * is answered for sure by a second copy, or by the answer to a later command
   * (the server answers in order); a refusal that comes first is still its own,
   * and a connection that drops first gives its text back (it may not have gone).
   */
  function ownMessage(id, text) {
    const sent = awaiting.find(
      (other) => other.command === 'send' && other.room === id && other.message === text,
    );
    if (!sent) return unaskedOwnMessage(id, text);
    if (!otherSockets.get(id) || sent.echoed) return answered((other) => other === sent);
    sent.echoed = true;
    settle(sent);
  }

  /**
   * A message of this user's that answers no send of ours: another tab's, or one
   * of ours from before a reconnect, which the server handled late. If it is the
   * text given back to the box, untouched, it went after all: sent again, it
   * would be there twice.
   */
  function unaskedOwnMessage(id, text) {
    const room = rooms.get(id);
    if (room.givenBack === text && room.input.value === text) {
      room.input.value = '';
      room.givenBack = undefined;
      unconfirmedGone(id);
      return;
    }
    assumeOtherSocket(id);
  }

  /** Counts, where no notice said so, at least one other socket of the user's in a room. */
  function assumeOtherSocket(id) {
    otherSockets.set(id, Math.max(1, otherSockets.get(id) || 0));
  }

  /** The user's other tabs entering and leaving a room: see `otherSockets`. */
  function countOtherSockets(id, type) {
    const count = otherSockets.get(id) || 0;
    if (type === MSG_TYPE.enter) otherSockets.set(id, count + 1);
    // Our own leave's notice comes to us too.
    else if (type === MSG_TYPE.leave && !leaving.has(id))
      otherSockets.set(id, Math.max(0, count - 1));
  }

  /** A message's list item: its time, who wrote it and what, all as text. */
  function messageItem(className, username, text) {
    const item = el('li', { className });
    item.append(
      timeElement(),
      el('span', { className: 'username', dir: 'auto', textContent: username }),
      el('span', { className: 'text', dir: 'auto', textContent: text }),
    );
    return item;
  }

  function awaitedJoin(id) {
    return awaiting.find((sent) => sent.command === 'join' && sent.room === id);
  }

  /**
   * A frame of a room with no pane waits on the user's join of it, if that is on
   * its way, and is shown once its answer makes the pane: the server may deliver
   * a room's messages first (the answer and the group add are one step only on
   * one Redis server; other processes' messages are ordered by their clocks).
   * So does one waiting on that join made again after a reconnect (rejoinEarly).
   * A refused join's frames go with it.
   */
  function keepEarly(id, data) {
    const join = awaitedJoin(id);
    let early;
    if (join) early = join.early = join.early || [];
    else if (rejoining.includes(id)) {
      early = rejoinEarly.get(id) || [];
      rejoinEarly.set(id, early);
    } else return;
    early.push(data);
    if (early.length > MAX_EARLY_FRAMES) early.shift();
  }

  /** A message of the user's that did not go: in view, its text there to copy. */
  function unsentItem(text, note = NOT_SENT) {
    const item = messageItem('unsent mine', me, text);
    item.append(el('span', { className: 'unsent-note', textContent: note }));
    return item;
  }

  function onError(code) {
    // The first replies after a reconnect answer the re-joins, in order: a refused one names its room.
    const id = rejoining.shift();
    // A refused re-join's frames go with it, as a refused join's do (keepEarly).
    if (id !== undefined) rejoinEarly.delete(id);
    // More rooms than the server takes commands at once: ask again for this one.
    if (id !== undefined && code === 'RATE_LIMITED') return rejoinLater(id);
    // Deleted while the page was away: as if it had heard of it then.
    if (id !== undefined && code === 'ROOM_INVALID') return roomGone(id);
    if (id !== undefined && code !== 'USER_HAS_TO_LOGIN')
      return shutOut(id, code, rooms.has(id) ? 'rejoin' : 'join');
    if (id !== undefined) {
      joinsLost.delete(id);
      return showError(code);
    }
    const sent = awaiting.shift();
    if (sent && code !== 'USER_HAS_TO_LOGIN') return refused(sent, code);
    giveBack(sent);
    showError(code);
  }

  /**
   * One of the user's commands refused. A refusal names no room, but the user
   * must know which one it is about: it is shown in the room's pane, or, for a
   * room with none, names it.
   */
  function refused(sent, code) {
    const id = sent.room;
    const room = rooms.get(id);
    if (sent.command === 'leave') leaving.delete(id);
    if (code === 'ROOM_INVALID') {
      const lost = sent.command === 'send' ? 'Your message to it was not sent.' : '';
      return roomGone(id, lost, sent.command === 'send' ? sent.message : undefined);
    }
    if (sent.command === 'join') {
      // With its pane open, a join is the keep-alive's: a rate refusal costs
      // nothing (the next one renews), any other means the room is closed to us.
      if (room) return code === 'RATE_LIMITED' ? undefined : shutOut(id, code, 'stay in');
      return showError(code, `Could not join “${titleOf(id)}”.`, undefined, id);
    }
    // Out of the room or not, the user wanted out: only a rate refusal keeps the pane.
    if (sent.command === 'leave' && code !== 'RATE_LIMITED') return removePane(id);
    // A room it is in closed to it since (made staff-only, the staff flag taken):
    // the server closes the socket now (4002), and the re-join would be refused.
    // The pane goes at once, keeping what did not go, rather than show an error
    // that a second alert then contradicts, the text with the pane.
    if (sent.command === 'send' && room && code === 'ROOM_ACCESS_DENIED')
      return shutOut(id, code, 'send to', sent.message);
    giveBack(sent);
    if (!room) return showError(code, `Could not ${sent.command} “${titleOf(id)}”.`, undefined, id);
    showError(code, sent.command === 'leave' ? 'Could not leave this room.' : '', room);
  }

  /**
   * The server no longer lets the socket into a room it had: its pane goes, with
   * why. What the user wrote there and did not get sent (`unsent`, the list's
   * unsent items, the box) stays in the alert, to copy, as for a deleted room.
   */
  function shutOut(id, code, verb, unsent) {
    const title = titleOf(id);
    const quotes = unwrittenIn(id, unsent);
    removePane(id);
    const text = `Could not ${verb} “${title}”. ${errorText(code)}`;
    const note = quotes.length > 0 ? ' What you wrote there:' : '';
    showAlert(code, `${text}${note}`, { quotes, about: id });
  }

  /** A re-join refused for the rate goes again once the server's tokens are back. */
  function rejoinLater(id) {
    const delay = Math.round(REJOIN_RETRY_MS * (1 + Math.random() * BACKOFF.jitter));
    const timer = setTimeout(() => {
      retries.delete(timer);
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      if (!rooms.has(id) && !joinsLost.has(id)) return;
      rejoining.push(id);
      socket.send(JSON.stringify({ command: 'join', room: id }));
      awaitAnswer(socket);
    }, delay);
    retries.add(timer);
  }

  function onFrame(text) {
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof data !== 'object' || data === null) return;
    if ('error' in data) return onError(String(data.error));
    if ('join' in data) return onJoin(String(data.join), String(data.title ?? ''));
    if ('leave' in data) return onLeave(String(data.leave));
    if ('room' in data && 'msg_type' in data) return onRoomMessage(data);
  }

  // ——— the connection ———

  function backoffDelay(n) {
    const base = Math.min(BACKOFF.maxMs, BACKOFF.initialMs * 2 ** n);
    return Math.round(base * (1 - BACKOFF.jitter + Math.random() * 2 * BACKOFF.jitter));
  }

  /** `quiet`: a renewal the user need not hear of (the status changes only if it fails). */
  function connect(quiet = false) {
    cancelRetry();
    if (stopped || socket) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = myId ? `?user=${encodeURIComponent(myId)}` : '';
    const ws = new WebSocket(`${scheme}//${location.host}${STREAM_PATH}${query}`);
    openedAt = 0;
    socket = ws;
    // A handshake nobody answers (a frozen Thyme's kernel still accepts the connection).
    watchSilence(ws);
    if (quiet) {
      // Connected as far as the user is concerned.
    } else if (everConnected) setStatus('connecting', undefined, 'Trying now…');
    else setStatus('connecting', 'Connecting…');
    ws.addEventListener('open', () => {
      // One given up on before it opened (watchSilence) is closed, and no longer the page's.
      if (socket !== ws) return;
      openedAt = Date.now();
      lastHeardAt = openedAt;
      const back = everConnected ? 'Reconnected.' : 'Connected.';
      clearAlerts('NOT_CONNECTED');
      // A command's check found the login over (USER_HAS_TO_LOGIN, then 4001), and
      // the session turned out alive (its user made active again): this socket's
      // handshake proves it, so "your session has ended" no longer holds.
      clearAlerts('USER_HAS_TO_LOGIN');
      // Logged in again (a page restored from the back/forward cache): usable again.
      if (loggedOut) {
        clearAlerts(loggedOut);
        loggedOut = false;
        for (const room of rooms.values()) {
          room.input.readOnly = false;
          room.submit.disabled = false;
        }
      }
      everConnected = true;
      // Back into every room the page still shows, and those the user was joining;
      // the replies come back in this order.
      rejoining = [...rooms.keys(), ...[...joinsLost].filter((id) => !rooms.has(id))];
      for (const id of rejoining) ws.send(JSON.stringify({ command: 'join', room: id }));
      // With rooms to re-join, the page is back once the server answers: a server
      // that closes each connection at its first command (overloaded: 1013) would
      // otherwise have the live region say "Reconnected" and "Disconnected" again
      // at every try of one outage.
      if (quiet) {
        // Connected all along as far as the user is concerned.
      } else if (rejoining.length === 0) setStatus('connected', back);
      else {
        statusOnFrame = back;
        setStatus('connecting', undefined, 'Rejoining your rooms…');
      }
      heardFrom(ws);
    });
    ws.addEventListener('message', (event) => {
      attempt = 0;
      if (statusOnFrame) setStatus('connected', statusOnFrame);
      statusOnFrame = '';
      onFrame(event.data);
      heardFrom(ws);
    });
    ws.addEventListener('close', (event) => onClose(ws, event.code));
  }

  /**
   * The socket `ws` is gone (closed, or given up for dead): what it owed is
   * settled as lost, and the page reconnects. Only the current socket's counts.
   */
  function onClose(ws, code) {
    if (socket !== ws) return;
    socket = null;
    statusOnFrame = '';
    clearTimeout(silenceTimer);
    silenceTimer = 0;
    rejoining = [];
    rejoinEarly.clear();
    for (const timer of retries) clearTimeout(timer);
    retries.clear();
    // What the user asked for and got no answer to holds. A leave: the socket's
    // memberships went with it, so the pane goes, as for a leave made offline.
    // A join: made with the re-joins (focus stays where the user is by then).
    for (const id of leaving) removePane(id);
    for (const sent of awaiting) {
      if (sent.command === 'join' && !rooms.has(sent.room)) joinsLost.add(sent.room);
    }
    focusOnJoin = null;
    for (const room of rooms.values()) room.pane.classList.add('is-offline');
    giveBackUnconfirmed();
    // After a 4001 the session check decides the words: the page may not reconnect.
    if (code !== CLOSE_LOGGED_OUT) sayUnconfirmed();
    const opened = openedAt > 0;
    if (opened && Date.now() - openedAt >= BACKOFF.stableMs) attempt = 0;
    if (stopped) return;
    // A refused handshake, or our session ended (CLOSE_LOGGED_OUT): ask before
    // reconnecting, since this browser may be logged in again (an admin who set
    // their own password has a new session).
    if (opened && code !== CLOSE_LOGGED_OUT) return scheduleRetry(DROPPED);
    // A quiet renewal (renewSocket) that never opened begins an outage too: until
    // now, the page said it was connected.
    const dropped = opened || showsConnected();
    const text = dropped ? DROPPED : everConnected ? undefined : UNAVAILABLE;
    // A session that ended is most likely over: saying "Reconnecting…" first, then
    // "you are logged out", would announce something untrue on the way.
    void retryUnlessLoggedOut(text, opened && code === CLOSE_LOGGED_OUT ? SESSION_CLOSED : text);
  }

  /** Whether the status says the page is connected (through a quiet renewal too). */
  function showsConnected() {
    return status.getAttribute('data-state') === 'connected';
  }

  /** Whether the socket owes the page an answer: a command of ours, or a re-join. */
  function owed() {
    return awaiting.length > 0 || rejoining.length > 0;
  }

  /** A command went out on `ws`: its silence is timed from now, unless it already is. */
  function awaitAnswer(ws) {
    if (!silenceTimer) watchSilence(ws);
  }

  /** `ws` answered (its handshake, or a frame): timed again only while it owes more. */
  function heardFrom(ws) {
    if (socket !== ws) return;
    lastFrameAt = Date.now();
    clearTimeout(silenceTimer);
    silenceTimer = 0;
    if (owed()) watchSilence(ws);
  }

  /** Gives `ws` up for dead SILENCE_TIMEOUT_MS from now, unless it is heard from (or owes nothing) by then. */
  function watchSilence(ws) {
    clearTimeout(silenceTimer);
    silenceTimer = setTimeout(() => {
      silenceTimer = 0;
      if (socket !== ws || (ws.readyState === WebSocket.OPEN && !owed())) return;
      // Dropped now: its close would wait on a closing handshake nobody answers.
      onClose(ws, 1006);
      ws.close(1000);
    }, SILENCE_TIMEOUT_MS);
  }

  /**
   * Sends the connection dropped before they came back may never have reached the
   * server (written into a connection already dead): their text goes back, and the
   * user decides whether to send it again. The alert saying so is owed
   * (sayUnconfirmed) until the page knows whether it reconnects.
   */
  function giveBackUnconfirmed() {
    // Those to a room the user left meanwhile have no box to go back to.
    const sends = awaiting.filter((sent) => sent.command === 'send' && rooms.has(sent.room));
    awaiting = [];
    if (sends.length === 0) return;
    // Those the server did get may yet come back, late, to the next connection:
    // there, as another tab's would, a copy of their text proves nothing alone.
    for (const sent of sends) assumeOtherSocket(sent.room);
    if (!alertShown('UNCONFIRMED')) unconfirmedRooms.clear();
    for (const sent of sends) {
      giveBack(sent);
      const room = rooms.get(sent.room);
      if (room && room.input.value === sent.message) room.givenBack = sent.message;
      unconfirmedRooms.add(sent.room);
    }
    unconfirmedOwed = true;
  }

  /**
   * The alert on the sends given back, if owed, in the words that hold now:
   * "send again once reconnected" would be untrue of a page that has stopped.
   */
  function sayUnconfirmed() {
    if (!unconfirmedOwed) return;
    unconfirmedOwed = false;
    showAlert('UNCONFIRMED', loggedOut ? UNCONFIRMED.loggedOut : UNCONFIRMED.reconnecting);
  }

  /** The sends given back to room `id` are settled (sent after all, or their pane gone). */
  function unconfirmedGone(id) {
    if (!unconfirmedRooms.delete(id) || unconfirmedRooms.size > 0) return;
    unconfirmedOwed = false;
    clearAlerts('UNCONFIRMED');
  }

  /** Drops the pending try and the session check in flight, for a newer attempt. */
  function cancelRetry() {
    clearTimeout(retryTimer);
    if (sessionCheck) sessionCheck.abort();
    sessionCheck = null;
  }

  /** `text`: what the status says meanwhile (undefined: what it says already). */
  function scheduleRetry(text) {
    cancelRetry();
    const delay = backoffDelay(attempt++);
    setStatus('disconnected', text, `Next try in ${Math.max(1, Math.round(delay / 1000))} s.`);
    retryTimer = setTimeout(connect, delay);
  }

  /**
   * Whose session the browser has now, asked of this page's own address: null
   * when logged out (redirected to the login page), the user id the page carries
   * otherwise. Throws when the server does not answer in time.
   */
  async function sessionUser(cancelled) {
    // Ended by a cancel or by the timeout, whichever comes first: one signal of
    // its own, as AbortSignal.any is newer than browsers still in use (Safari 17.4).
    const request = new AbortController();
    const abort = () => request.abort();
    cancelled.addEventListener('abort', abort, { once: true });
    const timer = setTimeout(abort, SESSION_CHECK_TIMEOUT_MS);
    try {
      const response = await fetch(location.pathname, {
        redirect: 'manual',
        cache: 'no-store',
        credentials: 'same-origin',
        signal: request.signal,
      });
      if (response.type === 'opaqueredirect') return null;
      if (!response.ok) throw new Error(`the session check got ${response.status}`);
      // Parsed, not run: DOMParser's documents execute no scripts.
      const page = new DOMParser().parseFromString(await response.text(), 'text/html');
      const other = page.querySelector('.chat');
      if (!other) throw new Error('the session check got no chat page');
      return other.getAttribute('data-user-id') || '';
    } finally {
      clearTimeout(timer);
      cancelled.removeEventListener('abort', abort);
    }
  }

  /**
   * A handshake the server refused looks like any failed connection to a page (no
   * status code is exposed): ask the server whose the session is now. The user
   * hears at once that the chat is down; the check gets a few seconds, and one
   * unanswered by then (no worker up) is not a logout: keep trying. `text` is
   * the status while retrying, `checking` while the check runs.
   */
  async function retryUnlessLoggedOut(text, checking = text) {
    cancelRetry();
    const check = new AbortController();
    sessionCheck = check;
    setStatus('disconnected', checking, 'Checking…');
    let user = myId;
    try {
      user = await sessionUser(check.signal);
    } catch {
      // Unreachable or unanswered: a server problem, not a login one; keep trying.
    }
    // Meanwhile back online, or shown again from the cache: that connection
    // decides, and is on its way; should it find the session over, the words change.
    if (check.signal.aborted) return sayUnconfirmed();
    sessionCheck = null;
    if (user !== null && (user === myId || !myId)) {
      sayUnconfirmed();
      return scheduleRetry(text);
    }
    // The session is over (logged out here or in another tab), or is another
    // user's, whom this page does not show: stop reconnecting.
    stopped = true;
    loggedOut = user === null ? 'USER_HAS_TO_LOGIN' : 'OTHER_USER';
    clearAlerts('NOT_CONNECTED');
    // What is typed stays readable, and can be copied; nothing can be sent.
    for (const room of rooms.values()) {
      room.input.readOnly = true;
      room.submit.disabled = true;
    }
    const why = user === null ? 'you are logged out' : 'logged in as someone else';
    setStatus('disconnected', `Disconnected: ${why}.`);
    // The command whose check found the login over said so first (onError, before
    // the 4001), as does a page shown again from the cache: made again, the alert
    // would be announced twice. Another user's session contradicts its "Log in again".
    if (loggedOut === 'OTHER_USER') clearAlerts('USER_HAS_TO_LOGIN');
    if (!alertShown(loggedOut)) showError(loggedOut);
    // Sends given back before the page knew: said already (a drop, then a refused
    // handshake), that alert no longer holds, and is made again in words that do.
    if (alertShown('UNCONFIRMED')) unconfirmedOwed = true;
    sayUnconfirmed();
  }

  function reconnectNow() {
    if (stopped || socket) return;
    attempt = 0;
    connect();
  }

  // ——— wiring ———

  document.addEventListener('click', (event) => {
    const button = event.target instanceof Element ? event.target.closest('.room-link') : null;
    const id = button && button.getAttribute('data-room-id');
    if (!id) return;
    event.preventDefault();
    // The second click of a double-click is not a second choice: it would leave
    // the room the first just joined, if the answer came in between.
    if (event.detail > 1) return;
    command(rooms.has(id) ? 'leave' : 'join', id);
  });
  document.addEventListener('keydown', dismissByKey);
  window.addEventListener('online', checkConnection);
  // A tab shown again is being looked at: its socket, dropped while it was hidden,
  // is not left to a backoff grown meanwhile (up to 15 s more with the server back).
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') checkConnection();
  });
  // Leaving the page is not a dropped connection: no reconnect behind the next page.
  // Its socket is settled now, not once heard closing: a close nobody answers (a
  // frozen Thyme, a dead network path) is heard only when the browser gives up on
  // it, a minute later in Chromium, and a page restored from the back/forward
  // cache meanwhile would reconnect only then.
  window.addEventListener('pagehide', () => {
    stopped = true;
    cancelRetry();
    const ws = socket;
    if (!ws) return;
    onClose(ws, 1000);
    ws.close(1000);
  });
  window.addEventListener('pageshow', (event) => {
    if (!event.persisted) return;
    stopped = false;
    reconnectNow();
  });

  /**
   * Back online, or the tab shown again: a socket dropped meanwhile reconnects
   * now, and one that may have died without a word (the machine slept, the
   * network changed, its Thyme froze) is probed, so that a dead one is found
   * before the user's next command meets it. Not one already waited on, or
   * heard from lately.
   */
  function checkConnection() {
    reconnectNow();
    if (stopped || !socket || socket.readyState !== WebSocket.OPEN || silenceTimer) return;
    if (Date.now() - lastFrameAt < SILENCE_TIMEOUT_MS) return;
    // As for the keep-alive: re-joins are told apart by their order, and a join
    // could overtake a leave.
    if (rejoinsPending() || leaving.size > 0) return;
    if (!rejoinFirstRoom()) renewSocket();
  }

  /**
   * The probe of a page with rooms open: "join" again for the first, which
   * changes nothing, and whose answer is awaited as any command's (its silence
   * gives the socket up: SILENCE_TIMEOUT_MS). False with none open.
   */
  function rejoinFirstRoom() {
    const first = rooms.keys().next();
    if (first.done) return false;
    send({ command: 'join', room: first.value });
    return true;
  }

  /**
   * The probe of a page with no room open: a fresh socket in place of this one,
   * quietly. Such a page has no command to ask that changes nothing: a leave of
   * a room it is not in may be announced to that room (multichat.md words it so,
   * and the original did), and the list may have no room to name. Nor has it
   * anything to lose with its socket; the fresh one's handshake is the test
   * (watched as any), and renews its groups. Its callers spare a join on its
   * way: what the old socket still owes goes with it.
   */
  function renewSocket() {
    const old = socket;
    socket = null;
    awaiting = [];
    old.close(1000);
    connect(true);
  }

  function keepMemberships() {
    // During a re-join the server is hearing from us already; during a leave, a
    // join could overtake it and bring the room back.
    if (rejoinsPending() || leaving.size > 0) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    if (rejoinFirstRoom()) return;
    // No rooms: renewed by a fresh socket, unless this one opened or sent a command
    // within half an interval (which also spares a join still on its way). With
    // nothing to re-join, nothing is missed in between.
    if (Date.now() - lastHeardAt < KEEP_ALIVE_MS / 2) return;
    renewSocket();
  }

  updateEmptyState();
  if (KEEP_ALIVE_MS > 0) setInterval(keepMemberships, KEEP_ALIVE_MS);
  connect();
})();
