/**
 * User Code Command Class rules the driver checks before it sends anything, and the user code
 * checksum that lets a read skip re-reading every slot when nothing changed.
 */
import { DriverError } from '../contract.js';
import { USER_ID_STATUS } from './protocol.js';

/** A code 4..10 characters long (User Code CC, CC:0063.01.01.11.00A). */
export const USER_CODE_MIN = 4;
export const USER_CODE_MAX = 10;

/** One occupied slot as the lock reported it. */
export interface SlotCode {
  status: number;
  code: string;
}

/** Throws `driver.invalid_pin` naming what is wrong with `slot` or `code`; never echoes the code. */
export function checkPin(slot: number, code: string | null, slots: number, supportedChars: string): void {
  if (!Number.isInteger(slot) || slot < 1 || slot > slots) {
    throw new DriverError('driver.invalid_pin', `slot ${slot} is outside this lock's user code slots 1-${slots}`, { slot });
  }
  if (code === null) return;
  if (!/^[0-9]+$/.test(code)) throw new DriverError('driver.invalid_pin', 'the PIN may contain only the digits 0-9', { slot });
  if (code.length < USER_CODE_MIN || code.length > USER_CODE_MAX) {
    throw new DriverError('driver.invalid_pin', `the PIN must be ${USER_CODE_MIN}-${USER_CODE_MAX} digits long (got ${code.length})`, { slot });
  }
  const unsupported = [...new Set(code)].filter((c) => !supportedChars.includes(c));
  if (unsupported.length > 0) throw new DriverError('driver.invalid_pin', `this lock's keypad does not take the digit(s) ${unsupported.sort().join(', ')}`, { slot });
}

/** CRC-16-CCITT (polynomial 0x1021, initial 0x1D0F), as the User Code checksum uses. */
function crc16ccitt(data: Uint8Array): number {
  let crc = 0x1d0f;
  for (const byte of data) {
    for (let mask = 0x80; mask !== 0; mask >>= 1) {
      const xor = Boolean(byte & mask) !== Boolean(crc & 0x8000);
      crc = (crc << 1) & 0xffff;
      if (xor) crc ^= 0x1021;
    }
  }
  return crc;
}

/**
 * The User Code checksum of a lock holding `codes` (User Code CC v2, CC:0063.02.11.11.001): over
 * every slot that is not available, in slot order, user id (2 bytes), status, code; 0 when none.
 */
export function userCodeChecksum(codes: ReadonlyMap<number, SlotCode>): number {
  const bytes: number[] = [];
  for (const slot of [...codes.keys()].sort((a, b) => a - b)) {
    const c = codes.get(slot)!;
    if (c.status === USER_ID_STATUS.available || c.code.length === 0) continue;
    bytes.push((slot >> 8) & 0xff, slot & 0xff, c.status, ...Buffer.from(c.code, 'ascii'));
  }
  return bytes.length === 0 ? 0 : crc16ccitt(Uint8Array.from(bytes));
}
