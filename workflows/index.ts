// The workflow bundle's entry: every workflow the worker registers.
export { taskWorkflow } from './task-workflow';
export { moverWorkflow, offboardingWorkflow, policyReevaluationWorkflow } from './offboarding-workflow';
