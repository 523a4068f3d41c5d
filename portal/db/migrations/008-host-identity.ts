/** Migration 008-host-identity: Per-host identity after a deploy (hostname, machine-id, Windows computer name) unless the image turns it off (an image whose systems name themselves, or a kiosk image meant to be identical). */
import { addColumns } from './migration.js';

export default addColumns({
  image_info: {
    set_identity: (t, c) => t.boolean(c).notNullable().defaultTo(true),
  },
});
