// A valid configuration for tests, pointing at this file's own database and Redis prefix.
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';

export const TEST_TOKEN_KEYS = 'test1:test-signing-key-0123456789abcdefghijklmnopqrstuvwxyz';

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    REDIS_URL: inject('redisUrl'),
    TOKEN_KEYS: TEST_TOKEN_KEYS,
    LOG_LEVEL: 'silent',
    PAPER_FEEDS: 'none',
    PORT: '0',
    ...overrides,
  });
}
