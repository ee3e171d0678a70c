/** The chaos run (`npm run chaos`): test/chaos/*.chaos.ts, with the same dev server as the suite. */
const base = require('../../jest.config.js');
module.exports = { ...base, rootDir: '../..', testMatch: ['**/*.chaos.ts'], testTimeout: 900000 };
