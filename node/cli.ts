#!/usr/bin/env node
/**
 * The `eventraft` command.
 *   eventraft node           run one node (configured by EVENTRAFT_* environment variables)
 *   eventraft node --help    list every setting
 *   eventraft operator       run the Kubernetes operator (EVENTRAFT_OPERATOR_* variables)
 *   eventraft smoke-test     append one event and read it back through every given endpoint
 */
// Each command loads only its own modules: a node does not load the operator's Kubernetes
// client, and the operator does not load lmdb.

const [command, ...rest] = process.argv.slice(2);
const usage = [
  'Usage: eventraft node|operator|smoke-test [--help]',
  '',
  'Commands:',
  '  node        run one eventraft node (see "eventraft node --help")',
  '  operator    run the Kubernetes operator (see "eventraft operator --help")',
  '  smoke-test  append one event and read it back (see "eventraft smoke-test --help")',
  '',
].join('\n');

if (command === 'node') {
  const { configHelp, runNode } = await import('./main.ts');
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${configHelp()}\n`);
  } else {
    await runNode(process.env);
  }
} else if (command === 'operator') {
  const { operatorConfigHelp, runOperator } = await import('../operator/main.ts');
  if (rest.includes('--help') || rest.includes('-h')) process.stdout.write(`${operatorConfigHelp()}\n`);
  else await runOperator(process.env);
} else if (command === 'smoke-test') {
  const { runSmokeTest } = await import('./smoke-test.ts');
  process.exitCode = await runSmokeTest(rest);
} else if (command === undefined || command === '--help' || command === '-h') {
  process.stdout.write(usage);
} else {
  process.stderr.write(`eventraft: unknown command "${command}"\n\n${usage}`);
  process.exit(2);
}
