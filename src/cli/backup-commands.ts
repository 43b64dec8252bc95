/**
 * `lockwarden backup <file>` and `lockwarden restore <file>`. A backup goes through the server when
 * one owns the data folder (or --url is given), so it runs while the server serves; otherwise on the
 * folder or PostgreSQL directly. A restore works only on an empty target, so it never needs a server.
 */
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { dataDirFrom } from '../config.js';
import { checkPassphrase } from '../crypto/backup-archive.js';
import { AppError } from '../domain/errors.js';
import { restoreBackup } from '../services/backup-service.js';
import { print, withClient, type GlobalOpts } from './shared.js';

/** The passphrase from --passphrase-file (its first line) or LOCKWARDEN_BACKUP_PASSPHRASE. */
function passphraseFrom(file: string | undefined, env = process.env): string {
  if (file) {
    if (!existsSync(file)) throw new AppError('validation.failed', `--passphrase-file: no file ${file}`, [{ path: 'passphrase-file', message: 'not found' }]);
    return checkPassphrase(readFileSync(file, 'utf8').split(/\r?\n/)[0]);
  }
  if (env.LOCKWARDEN_BACKUP_PASSPHRASE) return checkPassphrase(env.LOCKWARDEN_BACKUP_PASSPHRASE);
  throw new AppError('validation.failed', 'a backup needs a passphrase: --passphrase-file <file> or LOCKWARDEN_BACKUP_PASSPHRASE', [{ path: 'passphrase-file', message: 'missing' }]);
}

export function addBackupCommands(program: Command): void {
  program
    .command('backup <file>')
    .description('write an encrypted archive of the database, keys and audit checkpoints (works while the server runs)')
    .option('--passphrase-file <file>', 'file whose first line is the passphrase (or LOCKWARDEN_BACKUP_PASSPHRASE)')
    .action(async (file: string, f: { passphraseFile?: string }, cmd: Command) => {
      const passphrase = passphraseFrom(f.passphraseFile);
      await withClient(cmd, async (client, g) => {
        const r = await client.backup(passphrase, file);
        print(g.json ? JSON.stringify({ file, bytes: r.bytes }) : `wrote ${file} (${(r.bytes / 1e6).toFixed(2)} MB) from ${client.target}`);
      });
    });

  program
    .command('restore <file>')
    .description('restore an archive into an empty data folder (--data), or an empty PostgreSQL database (DATABASE_URL)')
    .option('--passphrase-file <file>', 'file whose first line is the passphrase (or LOCKWARDEN_BACKUP_PASSPHRASE)')
    .action(async (file: string, f: { passphraseFile?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOpts>();
      const passphrase = passphraseFrom(f.passphraseFile);
      if (!existsSync(file)) throw new AppError('validation.failed', `no archive ${file}`, [{ path: 'file', message: 'not found' }]);
      const r = await restoreBackup({ archive: createReadStream(file), passphrase, dataDir: dataDirFrom(g.data), databaseUrl: process.env.DATABASE_URL || undefined });
      if (g.json) {
        print(JSON.stringify(r, null, 2));
        return;
      }
      print(`restored ${r.rows} rows in ${r.tables} tables and ${r.files.length} file(s) into ${r.target} (archive made by lockwarden ${r.madeBy} at ${r.createdAt})`);
      for (const n of r.notes) print(`note: ${n}`);
      print('check it with `lockwarden audit verify`');
    });
}
