// See jest.config.ts: jest's node environment with an ordinary global object.
import vm from 'node:vm';
import { TestEnvironment } from 'jest-environment-node';

/**
 * jest-environment-node makes each test file's global object a contextified Proxy, so every read
 * of a global (Math, Map, JSON, ...) in test and product code goes through V8 interceptors and a
 * Proxy trap: CPU-bound code ran 5-100 times slower under jest than in node (the simulator, the
 * hash chain). This environment is the same except that the context is created with
 * vm.constants.DONT_CONTEXTIFY (an ordinary global object). What it gives up is jest's deletion,
 * at teardown, of globals a test file set; the context is dropped whole anyway.
 */
export default class OrdinaryGlobalEnvironment extends TestEnvironment {
  constructor(config, context) {
    const createContext = vm.createContext;
    vm.createContext = () => createContext(vm.constants.DONT_CONTEXTIFY);
    try {
      super(config, context);
    } finally {
      vm.createContext = createContext;
    }
  }
}
