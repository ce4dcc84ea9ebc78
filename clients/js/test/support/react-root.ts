// Runs React components in Node for the hook's unit tests, without a DOM: react-dom renders into a stand-in
// container. Enough for components that render nothing (a probe that records what the hook returns), which is
// all these tests need; effects, state updates and unmounts are React's own.
import { act, createElement, type FunctionComponent } from 'react';
import { createRoot, type Root } from 'react-dom/client';

const noop = () => {};

function installHost(): void {
  const g = globalThis as any;
  g.IS_REACT_ACT_ENVIRONMENT = true; // act() warns otherwise
  // What react-dom reads from the browser globals when nothing is rendered into the DOM.
  g.window ??= { event: undefined, HTMLIFrameElement: class {} };
}

/** A stand-in for the `<div>` a React app mounts into. */
function container(): any {
  const ownerDocument = { nodeType: 9, activeElement: null, addEventListener: noop, removeEventListener: noop };
  return { nodeType: 1, nodeName: 'DIV', tagName: 'DIV', namespaceURI: 'http://www.w3.org/1999/xhtml', ownerDocument, addEventListener: noop, removeEventListener: noop };
}

export interface TestRoot {
  /** Renders `component` with `props` (again: an update), inside act(); rejects with what the render threw. */
  render<P extends object>(component: FunctionComponent<P>, props: P): Promise<void>;
  /** Runs `fn` (e.g. a server message that updates state) inside act(). */
  act(fn: () => void): Promise<void>;
  unmount(): Promise<void>;
}

export function createTestRoot(): TestRoot {
  installHost();
  const root: Root = createRoot(container());
  return {
    // act() answers a thenable, not a Promise: awaited here, so that callers get a real one.
    render: async (component, props) => {
      await act(async () => root.render(createElement(component as FunctionComponent<any>, props)));
    },
    act: async (fn) => {
      await act(async () => fn());
    },
    unmount: async () => {
      await act(async () => root.unmount());
    },
  };
}
