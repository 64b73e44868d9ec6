// ESM entry point: the same module as index.js (one library, one set of
// classes, so instanceof works across require and import).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const zbauth = require('./index.js');

export const { Client, ZbauthError, version, libraryPath } = zbauth;
export default zbauth;
