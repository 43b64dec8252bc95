import type { ServiceContext } from './context.js';
import { AuthService } from './auth-service.js';
import { LocationService } from './location-service.js';
import { LockModelService } from './lock-model-service.js';
import { LockService } from './lock-service.js';
import { CredentialService } from './credential-service.js';
import { HandbookService } from './handbook-service.js';
import { SheetService } from './sheet-service.js';
import { AttachmentService } from './attachment-service.js';
import { AccessService } from './access-service.js';
import { AuditService } from './audit-service.js';
import { AlertService } from './alert-service.js';
import { IntegrationService } from './integration-service.js';
import { LockEventService } from './lock-event-service.js';
import { ResetCaseService } from './reset-case-service.js';
import { OutboxService } from './outbox-service.js';
import { TurnoverService } from './turnover-service.js';
import { BackupService, type BackupFiles } from './backup-service.js';
import { ResetPhotoService } from './reset-photo-service.js';
import { DashboardService } from './dashboard-service.js';
import { SecondFactorService } from './second-factor-service.js';
import { SsoService } from './sso-service.js';
import { PracticeService } from './practice-service.js';

/** Every use case, built once over one context. */
export interface Services {
  ctx: ServiceContext;
  auth: AuthService;
  locations: LocationService;
  models: LockModelService;
  locks: LockService;
  credentials: CredentialService;
  handbook: HandbookService;
  sheets: SheetService;
  attachments: AttachmentService;
  access: AccessService;
  audit: AuditService;
  alerts: AlertService;
  integrations: IntegrationService;
  lockEvents: LockEventService;
  resetCases: ResetCaseService;
  outbox: OutboxService;
  turnovers: TurnoverService;
  backup: BackupService;
  resetPhotos: ResetPhotoService;
  dashboard: DashboardService;
  secondFactor: SecondFactorService;
  sso: SsoService;
  practice: PracticeService;
}

/** Builds the services over a database, clock and id source. */
export function createServices(ctx: ServiceContext, files: BackupFiles = { dataDir: null }): Services {
  const auth = new AuthService(ctx);
  const turnovers = new TurnoverService(ctx);
  return {
    ctx,
    auth,
    locations: new LocationService(ctx),
    models: new LockModelService(ctx),
    locks: new LockService(ctx),
    credentials: new CredentialService(ctx),
    handbook: new HandbookService(ctx),
    sheets: new SheetService(ctx),
    attachments: new AttachmentService(ctx),
    access: new AccessService(ctx, auth.issueSignInLink),
    audit: new AuditService(ctx),
    alerts: new AlertService(ctx),
    integrations: new IntegrationService(ctx),
    lockEvents: new LockEventService(ctx),
    resetCases: new ResetCaseService(ctx),
    outbox: new OutboxService(ctx),
    turnovers,
    backup: new BackupService(ctx, files),
    resetPhotos: new ResetPhotoService(ctx),
    dashboard: new DashboardService(ctx, turnovers),
    secondFactor: new SecondFactorService(ctx),
    sso: new SsoService(ctx, auth),
    practice: new PracticeService(ctx),
  };
}
