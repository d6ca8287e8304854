package org.pocketmt.engine;

/**
 * A problem the caller can act on (a bundle, a glossary, text or options): its message is one line,
 * and the command line prints it and exits with code 2, as {@code runtime/errors.py}'s errors do.
 */
public class PocketMtException extends Exception {
    public PocketMtException(String message) {
        super(message);
    }

    public PocketMtException(String message, Throwable cause) {
        super(message, cause);
    }
}
