-- The bot's own knowledge in MySQL. init-db (`make init-db`, or the function invoked with
-- {"operator": "init-db"}) runs each statement in order; running it again changes nothing.

CREATE TABLE IF NOT EXISTS artists (
    id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    spotify_id VARCHAR(32) NULL,
    name VARCHAR(200) NOT NULL,
    name_key VARCHAR(200) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    UNIQUE KEY uq_artists_spotify_id (spotify_id),
    KEY ix_artists_name_key (name_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS aliases (
    alias_key VARCHAR(200) NOT NULL PRIMARY KEY,
    alias VARCHAR(200) NOT NULL,
    artist_id INT UNSIGNED NOT NULL,
    source VARCHAR(16) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    KEY ix_aliases_artist (artist_id),
    CONSTRAINT fk_aliases_artist FOREIGN KEY (artist_id)
        REFERENCES artists (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS tags (
    artist_id INT UNSIGNED NOT NULL,
    tag VARCHAR(64) NOT NULL,
    PRIMARY KEY (artist_id, tag),
    KEY ix_tags_tag (tag),
    CONSTRAINT fk_tags_artist FOREIGN KEY (artist_id) REFERENCES artists (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS related_artists (
    artist_id INT UNSIGNED NOT NULL,
    related_id INT UNSIGNED NOT NULL,
    source VARCHAR(16) NOT NULL,
    score DOUBLE NOT NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (artist_id, related_id, source),
    KEY ix_related_related (related_id),
    CONSTRAINT fk_related_artist FOREIGN KEY (artist_id)
        REFERENCES artists (id) ON DELETE CASCADE,
    CONSTRAINT fk_related_other FOREIGN KEY (related_id)
        REFERENCES artists (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The last artist each (hashed) user asked for: the "asked next" signal needs only that.
CREATE TABLE IF NOT EXISTS recent_asks (
    user_key CHAR(16) NOT NULL PRIMARY KEY,
    artist_id INT UNSIGNED NOT NULL,
    asked_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT fk_recent_artist FOREIGN KEY (artist_id)
        REFERENCES artists (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Which user already counted A -> B: one user counts once per pair per CO_ASK_RECOUNT_S.
CREATE TABLE IF NOT EXISTS co_asks (
    artist_id INT UNSIGNED NOT NULL,
    next_id INT UNSIGNED NOT NULL,
    user_key CHAR(16) NOT NULL,
    counted_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (artist_id, next_id, user_key),
    KEY ix_co_asks_user (user_key, counted_at),
    CONSTRAINT fk_co_asks_artist FOREIGN KEY (artist_id)
        REFERENCES artists (id) ON DELETE CASCADE,
    CONSTRAINT fk_co_asks_next FOREIGN KEY (next_id)
        REFERENCES artists (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Users who tapped "did you mean": a name is learned once CONFIRMING_USERS agree.
CREATE TABLE IF NOT EXISTS alias_votes (
    alias_key VARCHAR(200) NOT NULL,
    spotify_id VARCHAR(32) NOT NULL,
    user_key CHAR(16) NOT NULL,
    voted_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (alias_key, spotify_id, user_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
