package org.pocketmt.engine.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The options of {@code pocketmt translate} (sdk/cli.py), parsed as argparse does for them: {@code
 * --flag VALUE} or {@code --flag=VALUE}, TEXT arguments anywhere, {@code --} ends the options.
 */
final class Args {
    static final Set<String> BACKENDS = Set.of("executorch", "onnx");
    static final List<String> CONFLICTS = List.of("error", "first", "last");

    String bundle;
    String pair = "en-de";
    Integer beam;
    Integer maxNewTokens;
    String backend;
    boolean json;
    String glossary;
    String onConflict = "error";
    int repeat = 3; // bench only
    final List<String> texts = new ArrayList<>();

    /** A bad command line: argparse's message, printed after the usage line, exit 2. */
    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    static Args parse(List<String> argv, boolean bench) throws UsageException {
        Args a = new Args();
        boolean options = true;
        for (int i = 0; i < argv.size(); i++) {
            String arg = argv.get(i);
            if (options && arg.equals("--")) {
                options = false;
                continue;
            }
            if (!options || !arg.startsWith("-") || arg.equals("-")) {
                a.texts.add(arg);
                continue;
            }
            String name = arg;
            String value = null;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                name = arg.substring(0, eq);
                value = arg.substring(eq + 1);
            }
            if (name.equals("--json")) {
                if (value != null) {
                    throw new UsageException("argument --json: ignored explicit argument '" + value + "'");
                }
                a.json = true;
                continue;
            }
            if (!takesValue(name, bench)) {
                throw new UsageException("unrecognized arguments: " + arg);
            }
            if (value == null) {
                if (i + 1 >= argv.size() || looksLikeOption(argv.get(i + 1))) {
                    throw new UsageException("argument " + name + ": expected one argument");
                }
                value = argv.get(++i);
            }
            a.set(name, value);
        }
        return a;
    }

    private static boolean takesValue(String name, boolean bench) {
        return switch (name) {
            case "--bundle", "--pair", "--beam", "--backend", "--max-new-tokens", "--glossary", "--on-conflict" -> true;
            case "--repeat" -> bench;
            default -> false;
        };
    }

    /** argparse takes "-5" as a value (a negative number) but "--x" or "-x" as the next option. */
    private static boolean looksLikeOption(String s) {
        return s.startsWith("-") && s.length() > 1 && !s.matches("-\\d+(\\.\\d*)?");
    }

    private void set(String name, String value) throws UsageException {
        switch (name) {
            case "--bundle" -> bundle = value;
            case "--pair" -> pair = value;
            case "--beam" -> beam = integer(name, value);
            case "--max-new-tokens" -> maxNewTokens = integer(name, value);
            case "--repeat" -> repeat = integer(name, value);
            case "--glossary" -> glossary = value;
            case "--backend" -> backend = choice(name, value, List.of("executorch", "onnx"));
            case "--on-conflict" -> onConflict = choice(name, value, CONFLICTS);
            default -> throw new UsageException("unrecognized arguments: " + name);
        }
    }

    private static Integer integer(String name, String value) throws UsageException {
        try {
            return Integer.valueOf(value.trim());
        } catch (NumberFormatException e) {
            throw new UsageException("argument " + name + ": invalid int value: '" + value + "'");
        }
    }

    private static String choice(String name, String value, List<String> choices) throws UsageException {
        if (!choices.contains(value)) {
            throw new UsageException("argument " + name + ": invalid choice: '" + value + "' (choose from '"
                    + String.join("', '", choices) + "')");
        }
        return value;
    }
}
