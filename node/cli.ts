#!/usr/bin/env node
/**
 * The `eventraft` command.
 *   eventraft node           run one node (configured by EVENTRAFT_* environment variables)
 *   eventraft node --help    list every setting
 *   eventraft operator       run the Kubernetes operator (EVENTRAFT_OPERATOR_* variables)
 */
import { operatorConfigHelp, runOperator } from '../operator/main.ts';
import { configHelp, runNode } from './main.ts';

const [command, ...rest] = process.argv.slice(2);
const usage = 'Usage: eventraft node|operator [--help]\n\nCommands:\n  node        run one eventraft node (see "eventraft node --help")\n  operator    run the Kubernetes operator (see "eventraft operator --help")\n';

if (command === 'node') {
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${configHelp()}\n`);
  } else {
    await runNode(process.env);
  }
} else if (command === 'operator') {
  if (rest.includes('--help') || rest.includes('-h')) process.stdout.write(`${operatorConfigHelp()}\n`);
  else await runOperator(process.env);
} else if (command === undefined || command === '--help' || command === '-h') {
  process.stdout.write(usage);
} else {
  process.stderr.write(`eventraft: unknown command "${command}"\n\n${usage}`);
  process.exit(2);
}
