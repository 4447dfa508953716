import { watch, type FSWatcher } from 'node:fs';
import type { Primary } from '@handoff/orchestrator';

/** Whether a changed path (relative to the watched folder) is one `--watch` ignores: `node_modules` or a dot-folder/file. */
export function ignored(relative: string): boolean {
  return relative.split(/[\\/]/).some((part) => part === 'node_modules' || (part.startsWith('.') && part !== '.' && part !== '..'));
}

/**
 * Calls `onChange` once per burst of changes under `folder` (debounced by `delay` ms), ignoring
 * `node_modules` and dot-folders. Returns the watcher's close.
 */
export function watchFolder(folder: string, onChange: (files: readonly string[]) => void, delay = 200): () => void {
  let timer: NodeJS.Timeout | undefined;
  const changed = new Set<string>();
  const watcher: FSWatcher = watch(folder, { recursive: true, persistent: false }, (_event, file) => {
    const name = typeof file === 'string' ? file : '';
    if (name === '' || ignored(name)) return;
    changed.add(name);
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      const files = [...changed];
      changed.clear();
      onChange(files);
    }, delay);
  });
  watcher.on('error', () => {});
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    watcher.close();
  };
}

/**
 * `--watch`: a rolling reload of `primary` per burst of changes under `folder`; changes during a
 * reload lead to one more reload after it. Returns the watcher's close.
 */
export function reloadOnChange(primary: Primary, folder: string, log: (event: string, message: string, fields?: Record<string, unknown>) => void): () => void {
  let again = false;
  let reloading = false;
  const reload = (files: readonly string[]): void => {
    if (reloading) {
      again = true;
      return;
    }
    reloading = true;
    log('watch', `changed: ${files.slice(0, 3).join(', ')}${files.length > 3 ? ` and ${files.length - 3} more` : ''}; reloading`, { files });
    primary
      .reload()
      // A failed reload is logged by its reload:end event; the old workers keep serving.
      .catch(() => {})
      .finally(() => {
        reloading = false;
        if (again) {
          again = false;
          reload(['(more changes)']);
        }
      });
  };
  const unwatch = watchFolder(folder, (files) => {
    if (primary.state === 'running' || primary.state === 'reloading') reload(files);
  });
  log('watch', `watching ${folder} for changes`);
  return unwatch;
}
