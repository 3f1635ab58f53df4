import { html } from '../../../worker/http/html.js';
import type { Request } from '../../../worker/http/request.js';
import { Response } from '../../../worker/http/response.js';
import type { Router } from '../../../worker/http/router.js';
import { staffRequired } from '../../../worker/http/auth.js';
import type { AdminServices } from '../index.js';
import { page } from './layout.js';

/** The admin: rooms for staff; users for superusers. */
export function addAdminRoutes(router: Router, services: AdminServices): void {
  router.add('/admin/', staffRequired(adminHome(services)), ['GET']);
}

function adminHome(services: AdminServices) {
  return async (request: Request): Promise<Response> => {
    const rooms = await services.rooms.list();
    return Response.html(
      page(request, {
        title: 'Admin',
        admin: true,
        body: html`<h1>Admin</h1>
          <p>${rooms.length} rooms.</p>`,
      }),
    );
  };
}
