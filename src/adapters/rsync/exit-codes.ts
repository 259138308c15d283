import { CommandError } from '../errors.js';

/** An rsync copy failed; the message names the host, the copy and the cause. */
export class RsyncError extends CommandError {
  override readonly name: string = 'RsyncError';
}

/** What rsync's exit codes (rsync(1), EXIT VALUES) and its typical complaints mean for a user. */
export function describeRsyncExit(code: number, stderr: string): string {
  if (/No space left on device/i.test(stderr))
    return 'the destination disk is full (No space left on device)';
  if (/Host key verification failed/i.test(stderr))
    return 'the SSH host key is not the pinned one (Host key verification failed): check SSH_KNOWN_HOSTS_FILE';
  if (/Permission denied \(publickey/i.test(stderr))
    return 'SSH refused the key (Permission denied): check SSH_KEY_FILE and authorized_keys on the site';
  switch (code) {
    case 1:
      return 'rsync syntax or usage error (a bug: please report it with the log)';
    case 2:
      return 'rsync protocol incompatibility between the two hosts';
    case 3:
      return 'a source or destination directory is missing or unreadable';
    case 5:
      return 'rsync could not start on the other host (is rsync installed there?)';
    case 10:
    case 12:
      return 'the connection to the other host broke during the copy (socket or protocol stream error)';
    case 11:
      return 'a file could not be read or written (I/O error)';
    case 20:
      return 'rsync was killed (signal)';
    case 23:
      return 'some files could not be copied (partial transfer: permissions, ACL or xattr support, or I/O)';
    case 24:
      return 'source files vanished during the copy (something is still writing to the source)';
    case 30:
      return 'the copy timed out waiting for data';
    case 35:
      return 'timed out waiting for the rsync daemon';
    case 255:
      return 'the SSH connection failed or dropped';
    default:
      return `rsync failed with exit code ${code}`;
  }
}
