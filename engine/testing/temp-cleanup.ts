/** Setup file of the node test project: removes a test file's temporary directories after it. */
import { afterAll } from 'vitest';
import { removeTempDirs } from './temp.js';

afterAll(() => removeTempDirs());
