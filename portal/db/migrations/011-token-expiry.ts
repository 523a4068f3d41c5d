/** Migration 011-token-expiry: API tokens expire, and a revoked one stays revoked (the admin-token file is not taken again at start). */
import { addColumns } from './migration.js';

export default addColumns({
  api_tokens: {
    expires_ms: (t, c) => t.bigInteger(c),
    revoked_ms: (t, c) => t.bigInteger(c),
  },
});
