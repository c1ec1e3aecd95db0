// Survivor data kept on the device is encrypted with AES-GCM under a key derived from the user's
// password at login (PBKDF2-SHA-256). The key is not extractable and lives only in memory: it is
// never stored, so a closed tab, a logout or the idle timeout leaves only ciphertext behind.

const ITERATIONS = 310000; // OWASP's PBKDF2-HMAC-SHA256 recommendation
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function randomSalt() {
  return crypto.getRandomValues(new Uint8Array(16));
}

export async function deriveKey(password, salt) {
  const material = await crypto.subtle.importKey('raw', encoder.encode(password), 'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations: ITERATIONS },
    material, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

// {iv, data}: a fresh 96-bit IV per record; `context` (the record's key) is authenticated too,
// so a record cannot be swapped for another's.
export async function seal(key, value, context) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: encoder.encode(context) },
    key, encoder.encode(JSON.stringify(value)));
  return { iv, data: new Uint8Array(data) };
}

export async function open(key, sealed, context) {
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: sealed.iv, additionalData: encoder.encode(context) }, key, sealed.data);
  return JSON.parse(decoder.decode(plain));
}
