// Runs the Python code read from stdin in Pyodide's CPython (node_modules/pyodide, pinned in
// package.json) with the host directory argv[2] mounted at argv[3]. devtools/package.py uses it
// to compile the Lambda zip's dependencies with the runtime's Python version, which this
// machine's own Python is not; the pin makes every machine write the same byte-code. Hash
// randomization is off (PYTHONHASHSEED=0): sets compiled into byte-code keep one order.
//
//     node devtools/pyodide_run.mjs HOST_DIR /var/task < code.py
import { readFileSync } from "node:fs";
import { loadPyodide } from "pyodide";

const [hostDir, mountPoint] = process.argv.slice(2);
if (!hostDir || !mountPoint) {
  console.error("usage: node devtools/pyodide_run.mjs HOST_DIR MOUNT_POINT < code.py");
  process.exit(2);
}
const code = readFileSync(0, "utf-8");
const pyodide = await loadPyodide({ env: { PYTHONHASHSEED: "0" } });
pyodide.FS.mkdirTree(mountPoint);
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: hostDir }, mountPoint);
try {
  pyodide.runPython(code);
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
