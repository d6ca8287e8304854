package org.pocketmt.engine.search;

import java.util.Arrays;

/** Everything the search needs besides the model (docs/decoding.md, section 0); Python's {@code SearchConfig}. */
public final class SearchConfig {
    public final int beamSize;
    public final int maxNewTokens;
    public final int eosId;
    public final int startId;
    private final int[] bannedIds;
    public final double lengthPenalty;
    public final boolean forcedEos;

    public SearchConfig(int beamSize, int maxNewTokens, int eosId, int startId, int[] bannedIds,
                        double lengthPenalty, boolean forcedEos) {
        // Python's dataclass checks nothing itself; translator.search_config checks K and N against the
        // bundle's limits. Here only what the search itself cannot run without: K >= 1, N >= 1.
        if (beamSize < 1) throw new IllegalArgumentException("beam size " + beamSize + " is below 1");
        if (maxNewTokens < 1) throw new IllegalArgumentException("max new tokens " + maxNewTokens + " is below 1");
        this.beamSize = beamSize;
        this.maxNewTokens = maxNewTokens;
        this.eosId = eosId;
        this.startId = startId;
        this.bannedIds = bannedIds == null ? new int[0] : bannedIds.clone();
        this.lengthPenalty = lengthPenalty;
        this.forcedEos = forcedEos;
    }

    /**
     * translator.search_config's checks of the options against the bundle's limits, with its messages (Python
     * raises them as InputError).
     */
    public static SearchConfig withinLimits(int beamSize, int maxBatch, int maxNewTokens, int maxTargetLen, int eosId,
                                            int startId, int[] bannedIds, double lengthPenalty, boolean forcedEos) {
        if (beamSize < 1 || beamSize > maxBatch) {
            throw new IllegalArgumentException("beam size " + beamSize + " is outside 1.." + maxBatch + " (this bundle's max batch)");
        }
        if (maxNewTokens < 1 || maxNewTokens > maxTargetLen) {
            throw new IllegalArgumentException("max new tokens " + maxNewTokens + " is outside 1.." + maxTargetLen);
        }
        return new SearchConfig(beamSize, maxNewTokens, eosId, startId, bannedIds, lengthPenalty, forcedEos);
    }

    public int[] bannedIds() {
        return bannedIds.clone();
    }

    int[] bannedIdsShared() {
        return bannedIds;
    }

    /** The same settings with another beam size. */
    public SearchConfig withBeamSize(int k) {
        return new SearchConfig(k, maxNewTokens, eosId, startId, bannedIds, lengthPenalty, forcedEos);
    }

    @Override
    public String toString() {
        return "SearchConfig(K=" + beamSize + ", N=" + maxNewTokens + ", eos=" + eosId + ", start=" + startId
                + ", banned=" + Arrays.toString(bannedIds) + ", alpha=" + lengthPenalty + ", forcedEos=" + forcedEos + ")";
    }
}
