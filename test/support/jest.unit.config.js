/** Pure unit tests only (no Temporal dev server): `npx jest -c test/support/jest.unit.config.js test/policy`. */
const base = require('../../jest.config.js');
module.exports = { ...base, rootDir: '../..', globalSetup: undefined, globalTeardown: undefined };
