// Picks an app's connector by `connector.type` in the bundle.
import { ApplicationFailure } from '@temporalio/common';
import type { App } from '../../src/policy/bundle';
import type { SecretStore } from '../../src/vault/secret-store';
import type { Connector } from './connector';
import { CredentialConnector } from './credential-connector';
import { ScimConnector, scimConnection } from './scim-connector';

export interface ConnectorDeps {
  secrets: SecretStore;
  fetch?: typeof fetch;
}

export async function connectorFor(app: App, deps: ConnectorDeps): Promise<Connector> {
  switch (app.connector.type) {
    case 'scim':
      return new ScimConnector(app, await scimConnection(app, deps.secrets), { fetch: deps.fetch });
    case 'credential':
      return new CredentialConnector(app, deps.secrets);
    default:
      // `none`: the workflow never provisions such an app, so reaching here is a bug, not a fault to retry.
      throw ApplicationFailure.create({
        type: 'NothingToProvision',
        nonRetryable: true,
        message: `App ${app.id} has connector type "${app.connector.type}": there is nothing to provision.`,
      });
  }
}
