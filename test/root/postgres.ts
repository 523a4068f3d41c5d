/**
 * A fresh PostgreSQL database for a test: SHOAL_TEST_POSTGRES (a URL to a server where this user
 * may create databases) or else the machine's own cluster (Debian's postgresql package, which
 * .ci/run installs), started if it is down, reached over its Unix socket as a superuser role
 * named after the OS user. Each call makes a new database; drop() removes it.
 */
import { execFileSync } from 'node:child_process';
import { userInfo } from 'node:os';

const SOCKET_DIR = '/var/run/postgresql';

function localCluster(): void {
  const line = execFileSync('pg_lsclusters', ['--no-header'], { encoding: 'utf8' }).trim().split('\n')[0];
  if (!line) throw new Error('no PostgreSQL cluster here (apt-get install postgresql, or set SHOAL_TEST_POSTGRES)');
  const [version, cluster, , status] = line.split(/\s+/);
  if (status !== 'online') execFileSync('pg_ctlcluster', [version!, cluster!, 'start']);
  const me = userInfo().username;
  const has = execFileSync('runuser', ['-u', 'postgres', '--', 'psql', '-tAc', `select 1 from pg_roles where rolname = '${me}'`], { encoding: 'utf8' }).trim();
  if (has !== '1') execFileSync('runuser', ['-u', 'postgres', '--', 'createuser', '--superuser', me]);
}

export interface TestDatabase {
  url: string;
  drop(): void;
}

export function freshPostgres(): TestDatabase {
  const name = `shoal_test_${process.pid}_${Date.now()}`;
  const given = process.env.SHOAL_TEST_POSTGRES;
  if (given) {
    execFileSync('psql', [given, '-qc', `create database ${name}`]);
    const url = new URL(given);
    url.pathname = `/${name}`;
    return { url: url.toString(), drop: () => execFileSync('psql', [given, '-qc', `drop database if exists ${name} with (force)`]) };
  }
  localCluster();
  execFileSync('createdb', ['-h', SOCKET_DIR, name]);
  return {
    url: `postgresql://${userInfo().username}@localhost/${name}?host=${SOCKET_DIR}`,
    drop: () => execFileSync('dropdb', ['-h', SOCKET_DIR, '--if-exists', '--force', name]),
  };
}
