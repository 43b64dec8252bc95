/**
 * Reading the owner's single sign-on settings (kept as one instance fact, the client secret sealed),
 * shared by the SSO service and password sign-in (which refuses SSO-linked accounts when the owner
 * turned that on).
 */
import type { OidcSettings } from '../domain/oidc.js';
import type { Db } from '../store/database.js';
import { MetaRepository } from '../store/meta-repository.js';
import { SsoRepository } from '../store/sso-repository.js';

/** The instance fact that holds the settings. */
export const SSO_SETTINGS_KEY = 'sso_settings';

/** The stored settings, or null when SSO was never set up. */
export async function loadSsoSettings(db: Db): Promise<OidcSettings | null> {
  return new MetaRepository(db).get<OidcSettings>(SSO_SETTINGS_KEY);
}

/**
 * The provider's name when `userId` may not sign in with a password: SSO is on, the owner turned
 * password sign-in off for SSO users, and this account is linked to the configured provider.
 */
export async function ssoPasswordRefusal(db: Db, userId: string): Promise<{ providerName: string } | null> {
  const settings = await loadSsoSettings(db);
  if (!settings?.enabled || !settings.passwordSignInOffForSsoUsers) return null;
  const links = await new SsoRepository(db).ofUser(userId);
  return links.some((l) => l.issuer === normaliseIssuer(settings.issuerUrl)) ? { providerName: settings.providerName } : null;
}

/** The issuer as compared and stored: without a trailing slash (providers differ in how they print it). */
export function normaliseIssuer(url: string): string {
  return url.replace(/\/+$/, '');
}
