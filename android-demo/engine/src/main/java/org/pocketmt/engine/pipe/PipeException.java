package org.pocketmt.engine.pipe;

/**
 * The step server refused a request, or went away. Unchecked because {@link
 * org.pocketmt.engine.search.Step} is called from inside the search, which has no use for it; the
 * message is one line.
 */
public final class PipeException extends RuntimeException {
    public PipeException(String message) {
        super(message);
    }

    public PipeException(String message, Throwable cause) {
        super(message, cause);
    }
}
