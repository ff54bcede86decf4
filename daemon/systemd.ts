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
  const pid = env.LISTEN_PID;
  const count = Number(env.LISTEN_FDS);
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (pid !== String(process.pid) || !Number.isInteger(count) || count < 1) return [];
  return Array.from({ length: Math.min(count, MAX_LISTEN_FDS) }, (_, i) => SD_LISTEN_FDS_START + i);
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
