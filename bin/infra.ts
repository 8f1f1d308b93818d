#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// The CDK app (cdk.json runs this): `npx cdk synth`, `npx cdk deploy --all`.
import { buildApp } from '../lib/infra/app.ts';

buildApp().app.synth();
