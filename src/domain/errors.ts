/**
 * One error type for the whole application. Code outside the edges identifies an error only by its
 * stable `code`; the HTTP server and the CLI map codes to status codes and exit codes.
 */
export type ErrorCode =
  | 'validation.failed'
  | 'auth.unauthenticated'
  | 'auth.invalid_credentials'
  | 'auth.forbidden'
  | 'auth.csrf'
  | 'auth.token_invalid'
  | 'auth.throttled'
  /** The act needs a fresh second factor (or password) from this session: "Confirm it's you". */
  | 'auth.step_up_required'
  /** The session is signed in with a password only and must still give its second factor. */
  | 'auth.second_factor_required'
  /** The owner's policy requires a second factor of this account; the session may only enrol one. */
  | 'auth.enrolment_required'
  /** A TOTP code, recovery code or passkey answer did not prove the second factor. */
  | 'auth.second_factor_invalid'
  /** The account is linked to the single sign-on provider and the owner turned password sign-in off for such accounts. */
  | 'auth.password_sign_in_off'
  /** Single sign-on is not set up (or is turned off). */
  | 'sso.not_configured'
  /** The identity provider did not answer (discovery or a token request). */
  | 'sso.unreachable'
  | 'second_factor.not_found'
  | 'second_factor.not_enrolled'
  | 'second_factor.required_by_policy'
  | 'reveal.throttled'
  | 'location.not_found'
  | 'location.invalid_parent'
  | 'location.has_children'
  | 'model.not_found'
  | 'model.duplicate'
  | 'model.in_use'
  | 'lock.not_found'
  | 'lock.duplicate_external_id'
  | 'lock.retired'
  | 'lock.invalid_location'
  | 'lock.version_conflict'
  | 'credential.not_found'
  | 'credential.not_supported'
  | 'credential.no_code_available'
  | 'credential.duplicate_pin'
  | 'credential.slot_taken'
  | 'credential.version_conflict'
  | 'credential.wrong_state'
  | 'device.not_supported'
  | 'device.unreachable'
  | 'device.refused'
  | 'device.invalid_code'
  | 'device.timeout'
  | 'job.not_found'
  | 'integration.not_found'
  | 'integration.in_use'
  | 'integration.not_running'
  | 'integration.unknown_device'
  | 'integration.webhook_refused'
  | 'alert.not_found'
  | 'alert.already_acknowledged'
  | 'stay.not_found'
  | 'stay.overlap'
  | 'stay.wrong_location'
  | 'feed.invalid'
  | 'feed.unreachable'
  | 'notification.not_found'
  | 'handbook.not_found'
  | 'handbook.duplicate'
  | 'handbook.revision_conflict'
  | 'handbook.revision_not_found'
  | 'handbook.secret_not_found'
  | 'handbook.no_template'
  | 'handbook.attachment_not_found'
  | 'handbook.attachment_too_large'
  | 'handbook.attachment_type'
  | 'handbook.attachment_limit'
  | 'practice.not_found'
  | 'practice.finished'
  | 'crypto.key_unavailable'
  | 'crypto.integrity'
  | 'user.not_found'
  | 'user.duplicate'
  | 'token.not_found'
  | 'access.request_not_found'
  | 'access.grant_not_found'
  | 'access.self_approval'
  | 'access.already_decided'
  | 'access.not_pending'
  | 'access.duplicate_request'
  | 'access.last_owner'
  | 'access.not_grantable'
  | 'reset.not_found'
  | 'reset.wrong_state'
  | 'reset.incomplete'
  | 'reset.invalid'
  | 'reset.self_approval'
  | 'reset.override_reason'
  | 'reset.case_open'
  | 'reset.idempotency_conflict'
  | 'reset.wrong_lock'
  | 'reset.already_reenrolled'
  | 'reset.device_mismatch'
  | 'reset.device_bound_elsewhere'
  | 'reset.photo_not_found'
  | 'reset.photo_type'
  | 'reset.photo_too_large'
  | 'reset.photo_limit'
  | 'sheet.file_refused'
  | 'store.data_folder_locked'
  | 'store.unavailable'
  | 'cli.server_required'
  | 'backup.wrong_passphrase'
  | 'backup.corrupted'
  | 'backup.incompatible'
  | 'backup.target_not_empty'
  | 'internal';

/** A problem with one input field, named by its path (e.g. `gating.holdSeconds`). */
export interface FieldError {
  path: string;
  message: string;
  /** For a spreadsheet import: the row number as the sheet shows it (header = 1) and the column header. */
  row?: number;
  column?: string;
}

/** The application's error: a stable code, a message for people, and optional per-field detail. */
export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fields: FieldError[] = [],
  ) {
    super(message);
  }
}

/** Builds a validation error naming each bad field. */
export function validationError(fields: FieldError[]): AppError {
  const summary = fields.map((f) => `${f.path || '(body)'}: ${f.message}`).join('; ');
  return new AppError('validation.failed', `Invalid input: ${summary}`, fields);
}

/** True when `e` is an AppError with the given code. */
export function isAppError(e: unknown, code?: ErrorCode): e is AppError {
  return e instanceof AppError && (code === undefined || e.code === code);
}
