import { watch, type FSWatcher } from 'node:fs';

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
