// The authenticator-code generator the browser tests sign in with, against RFC 6238's own
// examples, so a refused code in portal.test.mjs points at the portal and not at the test.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBase32, hotp, timeStep, totp } from '../lib/totp.mjs';

// RFC 6238 appendix B's SHA-1 key, the ASCII text "12345678901234567890", in base32.
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

test('base32 decoding gives back the RFC key, ignoring case and padding', () => {
  assert.equal(decodeBase32(RFC_SECRET).toString('ascii'), '12345678901234567890');
  assert.equal(decodeBase32('mzxw6===').toString('ascii'), 'foo');
});

test('base32 decoding refuses a character outside the alphabet', () => {
  assert.throws(() => decodeBase32('ABC1'), /not a base32 character/);
});

test('codes match the RFC 6238 SHA-1 test vectors (last 6 of the 8 digits)', () => {
  for (const [seconds, expected] of [
    [59, '287082'],
    [1111111109, '081804'],
    [1111111111, '050471'],
    [1234567890, '005924'],
    [2000000000, '279037'],
    [20000000000, '353130'],
  ]) {
    assert.equal(totp(RFC_SECRET, seconds * 1000), expected, `at ${seconds} s`);
  }
});

test('eight-digit HOTP matches RFC 6238 at 59 s, so leading zeros and truncation are right', () => {
  assert.equal(hotp(decodeBase32(RFC_SECRET), timeStep(59_000), 8), '94287082');
});
