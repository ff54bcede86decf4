import { spawn } from 'node:child_process';
import type { Logger } from '../lib/log';

/** The first file descriptor systemd passes (after stdin, stdout and stderr), as in sd_listen_fds(3). */
const SD_LISTEN_FDS_START = 3;

/** Upper bound on passed descriptors we accept, so a garbled LISTEN_FDS cannot make us open thousands. */
const MAX_LISTEN_FDS = 64;

/**
 * The listening sockets systemd handed over (socket activation), as file descriptors 3, 4, …, or an empty
 * list when the daemon should bind its own. LISTEN_FDS counts only when LISTEN_PID is this process, since
 * otherwise they were meant for a parent; the variables are always removed so no child inherits them.
 */
export function takeListenFds(env: NodeJS.ProcessEnv = process.env): number[] {
  return takeNamedListenFds(env).map((socket) => socket.fd);
}

/** The FileDescriptorName= that marks a passed socket as the TLS port. */
export const TLS_FD_NAME = 'tls';

/** The FileDescriptorName= that marks a passed socket as the WebSocket port. */
export const WEB_FD_NAME = 'web';

/**
 * Like takeListenFds, with each descriptor's name from LISTEN_FDNAMES (the socket unit's
 * FileDescriptorName=, by default the unit's name), so the daemon can tell its ports apart.
 */
export function takeNamedListenFds(env: NodeJS.ProcessEnv = process.env): Array<{ fd: number; name: string | undefined }> {
  const pid = env.LISTEN_PID;
  const count = Number(env.LISTEN_FDS);
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (pid !== String(process.pid) || !Number.isInteger(count) || count < 1) return [];
  return Array.from({ length: Math.min(count, MAX_LISTEN_FDS) }, (_, i) => ({ fd: SD_LISTEN_FDS_START + i, name: names[i] || undefined }));
}

/**
 * Tells systemd (Type=notify) that the daemon is ready, when NOTIFY_SOCKET says it is listening. Node has
 * no unix datagram sockets, so this runs systemd-notify, which is why the unit needs NotifyAccess=all;
 * systemd-notify waits until systemd has processed the message, so systemd still sees it alive in our
 * cgroup. Failure is logged, not fatal: systemd then times the start out, which names the real problem.
 */
export function notifySystemd(log: Logger, fields: string[]): void {
  if (!process.env.NOTIFY_SOCKET) return;
  let stderr = '';
  const child = spawn('systemd-notify', fields, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.on('error', (error: NodeJS.ErrnoException) => log.log('error', 'notify-failed', { error: error.code ?? error.message }));
  child.on('exit', (code) => {
    if (code !== 0) log.log('error', 'notify-failed', { status: code ?? 'signal', error: stderr.trim() || undefined });
  });
}
