// The ending every interop script shares: run main, print the document it returns as JSON
// on stdout, and exit. An abandoned attempt may still hold a socket, so the script exits
// rather than wait for the event loop to drain; a failure is one line on stderr, exit 1.
export function runMain(name, main) {
  main().then(
    (out) => {
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      process.exit(0);
    },
    (error) => {
      process.stderr.write(`${name}: ${error?.stack ?? error}\n`);
      process.exit(1);
    },
  );
}
