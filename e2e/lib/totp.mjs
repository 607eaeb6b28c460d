// Authenticator codes (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps), computed the way a
// phone app does, so the browser tests can pass the portal's second step at sign-in.

import { createHmac } from 'node:crypto';

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Decodes RFC 4648 base32 (padding and case are ignored), as authenticator apps accept it. */
export function decodeBase32(text) {
  const clean = text.toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  const bytes = [];
  for (const char of clean) {
    const index = BASE32_ALPHABET.indexOf(char);
    if (index === -1) {
      throw new Error(`not a base32 character: ${JSON.stringify(char)}`);
    }
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

/** The HOTP value (RFC 4226) of `key` for `counter`, as a zero-padded string of `digits`. */
export function hotp(key, counter, digits = 6) {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(message).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** The 30-second step that `atMillis` falls in. */
export function timeStep(atMillis = Date.now(), stepSeconds = 30) {
  return Math.floor(atMillis / 1000 / stepSeconds);
}

/** The code an authenticator app shows at `atMillis` for a base32 secret. */
export function totp(base32Secret, atMillis = Date.now()) {
  return hotp(decodeBase32(base32Secret), timeStep(atMillis));
}
