// Lint with type information (`npm run check`); what each choice is for is in CONTRIBUTING.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const PROCESSES = ['client', 'portal', 'seeder', 'tracker'];
/** A process reaches another only over the network, never by importing its code; shared/ imports none. */
/**
 * The portal's rooms, each importing only rooms after it: a feature never reaches back into one
 * that builds on it (a task deploys to hosts; hosts know nothing of tasks).
 */
const PORTAL_ROOMS = ['boot', 'tasks', 'hosts', 'nodes', 'images', 'users', 'http', 'access', 'db'];
const processWall = (folder) =>
  PROCESSES.filter((p) => p !== folder).map((p) => ({
    group: [`**/${p}/**`, `../${p}/*`],
    message: `${folder}/ does not import ${p}/: processes talk over the network; what both need goes to shared/`,
  }));
/** A process reaches another only over the network, never by importing its code; shared/ imports none. */
const walls = [...PROCESSES, 'shared'].map((folder) => ({
  files: [`${folder}/**/*.ts`],
  rules: { 'no-restricted-imports': ['error', { patterns: processWall(folder) }] },
}));
const portalRooms = PORTAL_ROOMS.map((room, i) => ({
  files: [`portal/${room}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...processWall('portal'),
          ...PORTAL_ROOMS.slice(0, i).map((above) => ({
            group: [`../${above}/*`, `../../${above}/*`],
            message: `portal/${room}/ does not import portal/${above}/: rooms import only those below them (eslint.config.js PORTAL_ROOMS)`,
          })),
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.cache/', 'portal/ui/', '**/*.cjs', '**/*.mjs', '**/*.js', 'shared/webrtc-polyfill-stub/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // Route handlers and stores are async by their interface, awaiting or not.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...walls,
  ...portalRooms,
);
