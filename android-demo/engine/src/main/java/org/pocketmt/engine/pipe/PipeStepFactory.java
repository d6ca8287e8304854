package org.pocketmt.engine.pipe;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.pocketmt.engine.PocketMtException;
import org.pocketmt.engine.StepFactory;
import org.pocketmt.engine.bundle.Bundle;
import org.pocketmt.engine.bundle.Manifest;
import org.pocketmt.engine.search.Step;

/**
 * Spawns {@code python -m pocketmt.runtime.step_server BUNDLE --backend B} and talks to it through a
 * {@link PipeStep}: the desktop stand-in for ExecuTorch, running the Python runtime's own graphs so
 * the engine's tokens can be compared with the runtime's. The python executable is {@code
 * $POCKETMT_PYTHON}, else {@code python3}; it must have pocketmt installed.
 */
public final class PipeStepFactory implements StepFactory {
    public static final String PYTHON_ENV = "POCKETMT_PYTHON";

    private final String python;
    private final String backend;

    /** {@code backend}: "onnx", "executorch", or null for the bundle's default (ExecuTorch first). */
    public PipeStepFactory(String backend) {
        this(defaultPython(), backend);
    }

    public PipeStepFactory(String python, String backend) {
        this.python = python;
        this.backend = backend;
    }

    public static String defaultPython() {
        String env = System.getenv(PYTHON_ENV);
        return env == null || env.trim().isEmpty() ? "python3" : env;
    }

    @Override
    public Step open(Bundle bundle) throws PocketMtException {
        String resolved = bundle.resolveBackend(backend);
        List<String> cmd = new ArrayList<>(List.of(python, "-m", "pocketmt.runtime.step_server",
                bundle.path().toString(), "--backend", resolved));
        Process process;
        try {
            process = new ProcessBuilder(cmd).start();
        } catch (IOException e) {
            throw new PocketMtException("cannot start the step server with '" + python + "' ("
                    + e.getMessage() + "); set " + PYTHON_ENV + " to a python that has pocketmt installed");
        }
        StderrTail tail = new StderrTail(process);
        PipeStep pipe;
        try {
            pipe = new PipeStep(process.getInputStream(), process.getOutputStream(), () -> tail.whyGone(process));
        } catch (PipeException e) {
            process.destroy();
            String hint = e.getMessage().contains("No module named")
                    ? " (python '" + python + "'; set " + PYTHON_ENV + " to a python that has pocketmt installed)" : "";
            throw new PocketMtException(e.getMessage() + hint);
        }
        ServerStep step = new ServerStep(pipe, process);
        PipeStep.Handshake h = pipe.handshake();
        Manifest m = bundle.manifest();
        if (h.vocabSize() != m.model.vocabSize() || h.maxSourceLen() != m.limits.maxSourceLen()
                || h.maxTargetLen() != m.limits.maxTargetLen() || h.maxBatch() != m.limits.maxBatch()) {
            step.close();
            throw new PocketMtException("step server's model (" + h + ") does not match " + bundle.path()
                    + "'s manifest");
        }
        return step;
    }

    /** A {@link PipeStep} that also owns the server process: closing it ends the process. */
    static final class ServerStep implements Step, AutoCloseable {
        private final PipeStep pipe;
        private final Process process;

        ServerStep(PipeStep pipe, Process process) {
            this.pipe = pipe;
            this.process = process;
        }

        @Override
        public void start(int[] sourceIds, int rows) {
            pipe.start(sourceIds, rows);
        }

        @Override
        public float[] step(int[] tokens) {
            return pipe.step(tokens);
        }

        @Override
        public void reorder(int[] parents) {
            pipe.reorder(parents);
        }

        @Override
        public int vocabSize() {
            return pipe.vocabSize();
        }

        @Override
        public void close() {
            pipe.close();
            try {
                if (!process.waitFor(5, TimeUnit.SECONDS)) {
                    process.destroy(); // it ignored the quit request: do not leave it behind
                    process.waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                process.destroy();
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Drains the server's stderr (so it never blocks on a full pipe), keeping the last lines for errors. */
    static final class StderrTail {
        private static final int KEEP = 20;
        private final ArrayDeque<String> lines = new ArrayDeque<>();
        private final Thread thread;

        StderrTail(Process process) {
            thread = new Thread(() -> drain(process), "pocketmt-step-server-stderr");
            thread.setDaemon(true);
            thread.start();
        }

        private void drain(Process process) {
            try (BufferedReader r = new BufferedReader(
                    new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    synchronized (lines) {
                        lines.addLast(line);
                        if (lines.size() > KEEP) {
                            lines.removeFirst();
                        }
                    }
                }
            } catch (IOException e) {
                // the process ended: what was read is all there is
            }
        }

        /** "exited with code N: last stderr line", waiting briefly for the process to end. */
        String whyGone(Process process) {
            StringBuilder b = new StringBuilder();
            try {
                if (process.waitFor(5, TimeUnit.SECONDS)) {
                    b.append("exited with code ").append(process.exitValue());
                }
                thread.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            String last = lastMeaningfulLine();
            if (!last.isEmpty()) {
                b.append(b.length() > 0 ? ": " : "").append(last);
            }
            return b.toString();
        }

        private String lastMeaningfulLine() {
            synchronized (lines) {
                List<String> copy = new ArrayList<>(lines);
                for (int i = copy.size() - 1; i >= 0; i--) {
                    if (!copy.get(i).trim().isEmpty()) {
                        return copy.get(i).trim();
                    }
                }
            }
            return "";
        }
    }
}
