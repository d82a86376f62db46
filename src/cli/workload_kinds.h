// The workload kinds of modules above the harness (models, HPL), registered with the runner
// (harness/sampling.h: WorkloadHandler) so that it runs them without including their modules.
#pragma once

namespace suanli::cli {

// Registers the model and HPL handlers; main() calls it first, so the worker processes of an
// isolated run (the same program) have them too. Calling it again changes nothing.
void register_workload_kinds();

}  // namespace suanli::cli
