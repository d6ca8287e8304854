package org.pocketmt.demo;

import org.pytorch.executorch.EValue;

/**
 * The one call {@link ModuleStep} makes: run a method of a loaded ExecuTorch program. On the phone it
 * is {@code module::execute} of {@code org.pytorch.executorch.Module}; in the JVM test a fake model
 * that checks the step contract. Keeping Module behind this seam is what makes the cache
 * bookkeeping testable without the native library.
 */
@FunctionalInterface
public interface Program {
    EValue[] execute(String method, EValue... inputs);
}
