package org.pocketmt.engine;

import org.pocketmt.engine.bundle.Bundle;
import org.pocketmt.engine.search.Step;

/**
 * Opens the model of a bundle as a {@link Step}: on Android an ExecuTorch {@code Module}, on a desktop
 * JVM the Python step server ({@link org.pocketmt.engine.pipe.PipeStepFactory}). The bundle's files
 * have been checked (size and sha256) before this is called.
 */
public interface StepFactory {
    Step open(Bundle bundle) throws PocketMtException;
}
