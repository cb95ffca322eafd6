// GraphiQL for /graphql, bundled with React's production build: no CDN, works offline.
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/graphiql.css';
import './graphiql.css';

const url = new URL('/graphql', location.href);
const subscriptionUrl = url.href.replace(/^http/, 'ws');
const fetcher = createGraphiQLFetcher({ url: url.href, subscriptionUrl });

createRoot(document.getElementById('graphiql')).render(
  createElement(GraphiQL, {
    fetcher,
    defaultEditorToolsVisibility: 'headers',
    defaultQuery: `# ephemail's GraphQL API (schema.graphql; docs/api.md).
# Authenticate in the Headers tab below, for queries and subscriptions alike:
#   {"Authorization": "Bearer <API key or inbox token>"}

{
  viewer {
    kind
    publicInboxes
  }
}
`,
  }),
);
