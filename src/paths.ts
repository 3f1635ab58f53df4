import { fileURLToPath } from 'node:url';

/**
 * The package's root directory. Compiled code runs from dist/src/, while assets
 * that are not compiled (static files) stay under src/: both resolve from here.
 */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
