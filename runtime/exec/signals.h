// SPDX-License-Identifier: Apache-2.0
// Signals as events: SIGCHLD, SIGINT and SIGTERM write a byte to a pipe
// that the executor's event loop polls (no sleeping poll loops), and
// SIGINT/SIGTERM also set a flag the engine reads.
#pragma once

namespace flow::rt {

/// Installs the handlers (once). Returns the read end of the pipe.
int InstallSignalPipe();
/// Drains the pipe after poll() reported it readable.
void DrainSignalPipe();
/// The number of SIGINT/SIGTERM received so far.
int InterruptCount();
/// The signal that interrupted (SIGINT or SIGTERM), 0 if none.
int InterruptSignal();

}  // namespace flow::rt
