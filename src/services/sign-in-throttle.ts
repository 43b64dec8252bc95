/**
 * Sign-in throttling without letting an attacker lock the real user out (NIST SP 800-63B 5.2.2;
 * OWASP "Slow down online guessing attacks with device cookies").
 *
 * - A browser that signed in to an account before holds a device cookie for it (`lw_device`: a
 *   nonce and an HMAC over the account's email and the nonce). Its attempts count only on that
 *   cookie's own counter, so failures from anywhere else never slow it down. A cookie that fails
 *   `DEVICE_SIGN_IN_POLICY.cap` times in a row stops being trusted (a stolen one is worth a few
 *   guesses, no more).
 * - Any other client counts on the account (at most 100 consecutive failures, NIST's limit, with
 *   growing delays) and on its address (shared offices get more room; spraying many accounts from
 *   one address slows down). At 100 the account refuses unknown browsers until a sign-in from a
 *   known one, a password change or an owner's one-time link; known browsers keep working.
 *
 * Every attempt is counted before the password is checked and the counters of a success are cleared
 * afterwards, so a burst of parallel guesses cannot slip past the limit between check and count.
 */
import { safeEqual } from '../crypto/tokens.js';
import { humanWait, NEVER, retryAfterSeconds, ThrottledError, type ThrottlePolicy } from '../domain/throttle.js';
import type { ServiceContext } from './context.js';
import { Throttle, type ThrottleKey } from './throttle.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/**
 * Failures per account from browsers it does not know: 5 without waiting (typos, a caps-lock key),
 * then 1 s, 2 s, 4 s ... up to 15 min between attempts; 100 consecutive failures at most (NIST).
 * Counted until a success, however long ago they were.
 */
export const ACCOUNT_SIGN_IN_POLICY: ThrottlePolicy = { free: 5, windowMs: Infinity, baseDelayMs: SECOND, maxDelayMs: 15 * MINUTE, cap: 100, capWindowMs: Infinity };
/**
 * Attempts per client address: a shared address (an office, a proxy) gets 20 an hour before slowing
 * down, then the same doubling delays. Never a hard cap: an address is not an account.
 */
export const CLIENT_SIGN_IN_POLICY: ThrottlePolicy = { free: 20, windowMs: 60 * MINUTE, baseDelayMs: SECOND, maxDelayMs: 15 * MINUTE, cap: Infinity, capWindowMs: 60 * MINUTE };
/** Failures with one device cookie: the account's delays, and after 20 the cookie is not trusted. */
export const DEVICE_SIGN_IN_POLICY: ThrottlePolicy = { free: 5, windowMs: Infinity, baseDelayMs: SECOND, maxDelayMs: 15 * MINUTE, cap: 20, capWindowMs: Infinity };

/** How long a browser keeps its device cookie. */
export const DEVICE_COOKIE_MAX_AGE_S = 180 * 24 * 3600;

const accountKey = (email: string) => `sign-in:account:${email.toLowerCase()}`;
const clientKey = (client: string) => `sign-in:client:${client}`;
const deviceKey = (nonce: string) => `sign-in:device:${nonce}`;

/** An attempt allowed to go ahead; report how it ended. */
export interface SignInAttempt {
  /** The device cookie's nonce when the attempt came from a known browser. */
  device: string | null;
  succeeded(): Promise<void>;
}

/** Sign-in throttling per account, per client address and per device cookie. */
export class SignInThrottle {
  private readonly throttle: Throttle;

  constructor(private readonly ctx: Pick<ServiceContext, 'db' | 'clock' | 'ids' | 'secrets'>) {
    this.throttle = new Throttle(ctx);
  }

  /** A new device cookie value for a browser that just signed in to `email`. */
  deviceCookie(email: string): string {
    const nonce = this.ctx.ids.secret(18);
    return `${nonce}.${this.mac(email, nonce)}`;
  }

  /** The nonce of `cookie` when it is a device cookie issued for `email`, else null. */
  knownDevice(cookie: string | undefined, email: string): string | null {
    if (!cookie) return null;
    const [nonce, mac, ...rest] = cookie.split('.');
    if (!nonce || !mac || rest.length || nonce.length > 64) return null;
    return safeEqual(mac, this.mac(email, nonce)) ? nonce : null;
  }

  private mac(email: string, nonce: string): string {
    return this.ctx.secrets.fingerprint(`${email.toLowerCase()}\0${nonce}`, 'sign-in device cookie v1');
  }

  /**
   * Counts an attempt to sign in to `email` before the password is checked, or throws
   * `auth.throttled` (the same for existing and unknown accounts, so it tells nothing about them).
   */
  async begin(email: string, client: string, cookie: string | undefined): Promise<SignInAttempt> {
    const nonce = this.knownDevice(cookie, email);
    if (nonce) {
      const result = await this.throttle.take([{ key: deviceKey(nonce), policy: DEVICE_SIGN_IN_POLICY }]);
      if (result.allowed) return { device: nonce, succeeded: () => this.throttle.clear([deviceKey(nonce), accountKey(email)]) };
      // Delays apply to the cookie as to anyone; past its cap it is just another unknown browser.
      if (result.reason === 'delay') this.refuse(result.retryAt, false);
    }
    const keys: ThrottleKey[] = [
      { key: accountKey(email), policy: ACCOUNT_SIGN_IN_POLICY },
      { key: clientKey(client), policy: CLIENT_SIGN_IN_POLICY },
    ];
    const result = await this.throttle.take(keys);
    if (!result.allowed) this.refuse(result.retryAt, result.reason === 'cap' && result.key === keys[0]!.key);
    // A success ends the account's run of failures; the address's hourly count stays (signing in to
    // one's own account must not buy more guesses at others).
    return { device: null, succeeded: () => this.throttle.clear([accountKey(email)]) };
  }

  /** Forgets an account's failures (a new password, an owner-issued one-time link). */
  async clearAccount(email: string): Promise<void> {
    await this.throttle.clear([accountKey(email)]);
  }

  private refuse(retryAt: Date, accountCapped: boolean): never {
    if (accountCapped || retryAt >= NEVER) {
      throw new ThrottledError(
        'auth.throttled',
        'too many failed sign-ins to this account from browsers it does not know; sign in from a browser you have signed in with before, or ask an owner for a one-time sign-in link',
        null,
        null,
      );
    }
    const seconds = retryAfterSeconds(retryAt, this.ctx.clock.now());
    throw new ThrottledError('auth.throttled', `too many failed sign-ins; try again in ${humanWait(seconds)} (at ${retryAt.toISOString()})`, retryAt, seconds);
  }
}
