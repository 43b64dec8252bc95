/**
 * PINs through the User Credential CC (0x83, Z-Wave 2024), for nodes that have it, by Z-Wave JS's
 * unified access-control API (`endpoint.access_control.*`, @zwave-js/server 3.x; zwave-js 15 builds
 * it over User Credential CC, falling back to User Code CC). Slot N is user N holding PIN credential
 * slot N, as on Matter locks; a PIN programmed at the keypad under another user shows by its
 * credential slot. Every answer is parsed before it is used.
 */
import { z } from 'zod';
import { DriverError, type ObservedPin, type PinWrite } from '../contract.js';

/** `UserCredentialType.PINCode`. */
export const PIN_CODE = 1;
/** `SetUserResult` / `SetCredentialResult` of zwave-js's access-control API. */
const RESULT = { ok: 0, occupied: 1, empty: 2, duplicate: 3, securityRules: 4 } as const;

const userCaps = z.object({ capabilities: z.object({ maxUsers: z.number().int(), maxUserNameLength: z.number().int().optional() }) });
const credentialCaps = z.object({
  capabilities: z.object({
    supportedCredentialTypes: z.record(z.string(), z.object({ numberOfCredentialSlots: z.number().int(), minCredentialLength: z.number().int(), maxCredentialLength: z.number().int() })),
  }),
});
const users = z.object({ users: z.array(z.object({ userId: z.number().int(), active: z.boolean().optional(), userName: z.string().optional() })) });
const credentials = z.object({ credentials: z.array(z.object({ userId: z.number().int(), type: z.number().int(), slot: z.number().int(), data: z.unknown().optional() })) });
const setResult = z.object({ result: z.union([z.number().int(), z.object({ user: z.number().int().optional(), credential: z.number().int().optional() })]) });

/** What a node's User Credential CC takes for PINs. */
export interface UserCredentialInfo {
  slots: number;
  minLength: number;
  maxLength: number;
  maxNameLength: number;
}

/** One call to the server: a command and its arguments, resolving with the parsed `result`. */
export type AccessControlCall = (command: string, args: Record<string, unknown>, what: string, write?: boolean) => Promise<unknown>;

function parsed<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new DriverError('driver.refused', `the Z-Wave JS server answered ${what} with something lockwarden cannot read`);
  return r.data;
}

/** A credential's data as text (the server sends PINs as a string, other data as a buffer object). */
function pinText(data: unknown): string | null {
  if (typeof data === 'string') return /^[0-9]+$/.test(data) ? data : null;
  const bytes = (data as { type?: unknown; data?: unknown } | null)?.data;
  if (Array.isArray(bytes) && bytes.every((b) => typeof b === 'number')) {
    const s = Buffer.from(bytes).toString('ascii');
    return /^[0-9]+$/.test(s) ? s : null;
  }
  return null;
}

/** The access-control commands lockwarden uses, for one node. */
export class UserCredentialPins {
  constructor(private readonly call: AccessControlCall) {}

  /** PIN slots and lengths from the cached capabilities (read by the interview). */
  async info(): Promise<UserCredentialInfo> {
    const u = parsed(userCaps, await this.call('endpoint.access_control.get_user_capabilities_cached', {}, 'read user capabilities'), 'user capabilities');
    const c = parsed(credentialCaps, await this.call('endpoint.access_control.get_credential_capabilities_cached', {}, 'read credential capabilities'), 'credential capabilities');
    const pin = c.capabilities.supportedCredentialTypes[String(PIN_CODE)];
    if (!pin) return { slots: 0, minLength: 4, maxLength: 10, maxNameLength: 0 };
    return { slots: Math.min(u.capabilities.maxUsers, pin.numberOfCredentialSlots), minLength: pin.minCredentialLength, maxLength: pin.maxCredentialLength, maxNameLength: u.capabilities.maxUserNameLength ?? 0 };
  }

  /** Every PIN on the lock with its user's name and state, read from the lock (not the cache). */
  async read(): Promise<ObservedPin[]> {
    const us = parsed(users, await this.call('endpoint.access_control.get_users', {}, 'read the users'), 'the users').users;
    const cs = parsed(credentials, await this.call('endpoint.access_control.get_all_credentials', {}, 'read the credentials'), 'the credentials').credentials;
    const byId = new Map(us.map((u) => [u.userId, u]));
    return cs
      .filter((c) => c.type === PIN_CODE)
      .sort((a, b) => a.slot - b.slot)
      .map((c) => {
        const u = byId.get(c.userId);
        return { slot: c.slot, code: pinText(c.data), name: u?.userName ?? '', schedule: { kind: 'always' as const }, enabled: u?.active !== false };
      });
  }

  /** Writes a PIN into slot N (user N), adding the user if needed; a refused write leaves the lock as it was. */
  async set(pin: PinWrite, info: UserCredentialInfo): Promise<void> {
    const pins = await this.read();
    const holder = pins.find((p) => p.slot !== pin.slot && p.code === pin.code);
    if (holder) throw new DriverError('driver.duplicate_pin', `slot ${holder.slot} already holds this PIN`, { slot: pin.slot });
    const us = parsed(users, await this.call('endpoint.access_control.get_users', {}, 'read the users'), 'the users').users;
    const userName = info.maxNameLength > 0 ? pin.name.slice(0, info.maxNameLength) : undefined;
    const options = { active: true, ...(userName ? { userName } : {}) };
    const credential = { credentialType: PIN_CODE, credentialSlot: pin.slot, data: pin.code };
    if (!us.some((u) => u.userId === pin.slot)) {
      const r = parsed(setResult, await this.call('endpoint.access_control.add_user', { userId: pin.slot, options, credential }, `add user ${pin.slot}`, true), 'add user').result;
      const user = typeof r === 'number' ? r : (r.user ?? RESULT.ok);
      const cred = typeof r === 'number' ? RESULT.ok : (r.credential ?? RESULT.ok);
      if (user !== RESULT.ok) throw new DriverError('driver.refused', `the lock refused user ${pin.slot} (result ${user})`, { slot: pin.slot });
      if (cred !== RESULT.ok) {
        await this.call('endpoint.access_control.delete_user', { userId: pin.slot }, `remove user ${pin.slot}`, true).catch(() => undefined);
        throw credentialError(cred, pin.slot);
      }
      return;
    }
    const r = parsed(setResult, await this.call('endpoint.access_control.set_credential', { userId: pin.slot, ...credential }, `set the PIN of slot ${pin.slot}`, true), 'set credential').result;
    const cred = typeof r === 'number' ? r : (r.credential ?? RESULT.ok);
    if (cred !== RESULT.ok) throw credentialError(cred, pin.slot);
    await this.call('endpoint.access_control.set_user', { userId: pin.slot, options }, `rename user ${pin.slot}`, true).catch(() => undefined);
  }

  /** Empties slot N: its PIN credential (whoever holds it), then user N if it holds nothing else. */
  async clear(slot: number): Promise<void> {
    const cs = parsed(credentials, await this.call('endpoint.access_control.get_all_credentials', {}, 'read the credentials'), 'the credentials').credentials;
    const pin = cs.find((c) => c.type === PIN_CODE && c.slot === slot);
    if (pin) {
      const r = parsed(setResult, await this.call('endpoint.access_control.delete_credential', { userId: pin.userId, credentialType: PIN_CODE, credentialSlot: slot }, `clear the PIN of slot ${slot}`, true), 'delete credential').result;
      if (typeof r === 'number' && r !== RESULT.ok && r !== RESULT.empty) throw new DriverError('driver.refused', `the lock kept the PIN in slot ${slot} (result ${r})`, { slot });
    }
    const owner = pin?.userId ?? slot;
    if (cs.some((c) => c.userId === owner && !(c.type === PIN_CODE && c.slot === slot))) return;
    const us = parsed(users, await this.call('endpoint.access_control.get_users', {}, 'read the users'), 'the users').users;
    if (us.some((u) => u.userId === owner)) await this.call('endpoint.access_control.delete_user', { userId: owner }, `remove user ${owner}`, true);
  }
}

function credentialError(result: number, slot: number): DriverError {
  if (result === RESULT.duplicate) return new DriverError('driver.duplicate_pin', `the lock refused the PIN for slot ${slot}: another credential holds it`, { slot });
  if (result === RESULT.securityRules) return new DriverError('driver.invalid_pin', `the lock refused the PIN for slot ${slot} under its security rules (too simple?)`, { slot });
  return new DriverError('driver.refused', `the lock refused the PIN for slot ${slot} (result ${result})`, { slot });
}
