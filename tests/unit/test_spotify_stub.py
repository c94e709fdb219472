"""The Spotify-compatible stub, driven by the real spotipy client."""

import time

import pytest
import requests
import spotipy
from requests.adapters import HTTPAdapter
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyClientCredentials, SpotifyOauthError

from devtools.spotify_stub import BEHAVIOURS, SpotifyStub, fold, spotify_id

CLIENT_ID, CLIENT_SECRET = "demo-client-id", "demo-client-secret"


@pytest.fixture(scope="module")
def stub():
    with SpotifyStub(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as stub:
        yield stub


@pytest.fixture(autouse=True)
def fresh(stub):
    stub.mode = "development-2026"
    stub.latency_ms = 0
    stub.clear_faults()
    stub.reset_calls()
    stub.reset_realism()


def client(stub, secret=CLIENT_SECRET, timeout=5):
    """spotipy as the skill sets it up, pointed at the stub and retrying nothing."""
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=0))
    auth = SpotifyClientCredentials(
        CLIENT_ID, secret, requests_session=session, cache_handler=MemoryCacheHandler()
    )
    auth.OAUTH_TOKEN_URL = stub.token_url
    sp = spotipy.Spotify(
        auth_manager=auth,
        requests_session=session,
        retries=0,
        status_retries=0,
        requests_timeout=timeout,
    )
    sp.prefix = stub.api_url
    return sp


@pytest.fixture
def sp(stub):
    return client(stub)


def token(stub):
    answer = requests.post(
        stub.token_url, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    return answer.json()["access_token"]


def raw_get(stub, path, **params):
    headers = {"Authorization": f"Bearer {token(stub)}"}
    return requests.get(stub.api_url + path, params=params, headers=headers, timeout=5)


def names(items):
    return [item["name"] for item in items]


def http_error(call):
    with pytest.raises(spotipy.SpotifyException) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("mode", ["development-2026", "extended"])
def test_a_token_then_an_artist_search(stub, sp, mode):
    stub.mode = mode
    found = sp.search("IU", type="artist", limit=5, market="KR")["artists"]
    assert names(found["items"])[0] == "IU"
    assert set(found) == {"href", "items", "limit", "next", "offset", "previous", "total"}
    assert (found["limit"], found["offset"]) == (5, 0)
    artist = found["items"][0]
    assert artist["id"] == stub.artist_id("IU") == spotify_id("artist", "IU")
    assert artist["uri"] == f"spotify:artist:{artist['id']}"
    assert artist["external_urls"]["spotify"] == f"https://open.spotify.com/artist/{artist['id']}"
    assert requests.get(artist["images"][0]["url"]).status_code == 200
    assert (stub.token_calls(), stub.api_calls()) == (1, 1)


@pytest.mark.parametrize(("mode", "default"), [("development-2026", 5), ("extended", 20)])
def test_the_default_search_limit_depends_on_the_mode(stub, mode, default):
    stub.mode = mode
    assert raw_get(stub, "search", q="a", type="track").json()["tracks"]["limit"] == default


def test_development_mode_refuses_a_search_limit_above_10(stub, sp):
    error = http_error(lambda: sp.search("IU", type="artist", limit=11))
    assert error.http_status == 400
    assert "Invalid limit" in error.msg
    stub.mode = "extended"
    assert sp.search("a", type="track", limit=20)["tracks"]["limit"] == 20
    assert http_error(lambda: sp.search("a", type="track", limit=51)).http_status == 400


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "", "type": "artist"}, "No search query"),
        ({"q": "IU", "type": "artist", "limit": "0"}, "Invalid limit"),
        ({"q": "IU", "type": "artist", "limit": "ten"}, "Invalid limit"),
    ],
)
def test_bad_search_requests_are_400(stub, params, message):
    answer = raw_get(stub, "search", **params)
    assert answer.status_code == 400
    assert answer.json() == {"error": {"status": 400, "message": message}}


def test_search_pages_with_offset(stub, sp):
    first = sp.search('artist:"BTS"', type="track", limit=3)["tracks"]
    second = sp.search('artist:"BTS"', type="track", limit=3, offset=3)["tracks"]
    assert first["next"] and first["previous"] is None and second["previous"]
    assert not set(names(first["items"])) & set(names(second["items"]))
    assert first["total"] == second["total"] >= 6


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_top_tracks_and_related_artists_exist_only_for_extended_apps(stub, sp):
    iu = stub.artist_id("IU")
    assert http_error(lambda: sp.artist_top_tracks(iu, country="KR")).http_status == 403
    assert http_error(lambda: sp.artist_related_artists(iu)).http_status == 403
    stub.mode = "extended"
    tracks = sp.artist_top_tracks(iu, country="KR")["tracks"]
    assert 5 <= len(tracks) <= 10
    assert [t["popularity"] for t in tracks] == sorted(
        (t["popularity"] for t in tracks), reverse=True
    )
    assert all(iu in [a["id"] for a in t["artists"]] for t in tracks)
    related = sp.artist_related_artists(iu)["artists"]
    assert names(related) == next(
        a["related"] for a in stub.catalog["artists"] if a["name"] == "IU"
    )
    assert all("followers" in artist for artist in related)


def test_development_mode_artists_lack_followers_popularity_and_genres(stub, sp):
    bts = stub.artist_id("BTS")
    assert not {"followers", "popularity", "genres"} & set(sp.artist(bts))
    stub.mode = "extended"
    artist = sp.artist(bts)
    assert artist["followers"]["total"] > 0 and artist["popularity"] > 0 and artist["genres"]


def test_tracks_lose_popularity_and_markets_in_development_mode(stub, sp):
    track = sp.search("Celebrity", type="track", limit=1)["tracks"]["items"][0]
    assert "popularity" not in track and "available_markets" not in track
    assert track["album"]["name"] == "LILAC" and track["external_ids"]["isrc"]
    stub.mode = "extended"
    track = sp.track(track["id"])
    assert track["popularity"] > 0 and "KR" in track["available_markets"]


def test_hangul_names_spotify_knows_find_the_artist(stub, sp):
    assert names(sp.search("아이유", type="artist")["artists"]["items"])[0] == "IU"
    assert names(sp.search("방탄 소년단", type="artist")["artists"]["items"])[0] == "BTS"


@pytest.mark.parametrize("typed", ["에미넴", "레이디가가", "qqzzxxvv"])
def test_names_spotify_does_not_know_find_nothing(sp, typed):
    found = sp.search(typed, type="artist,track")
    assert found["artists"]["total"] == found["tracks"]["total"] == 0
    assert found["artists"]["items"] == []


def test_korean_acts_listed_as_unknown_in_hangul_are_not_found_by_it(stub, sp):
    unknown = stub.catalog["_hangul_unknown_to_spotify"]
    assert len(unknown) == 3
    for name, hangul in unknown.items():
        assert sp.search(hangul, type="artist")["artists"]["total"] == 0
        assert names(sp.search(name, type="artist")["artists"]["items"])[0] == name


def test_an_artist_filter_keeps_only_that_artists_tracks(stub, sp):
    tracks = sp.search('artist:"BTS"', type="track", limit=10)["tracks"]["items"]
    assert {"Dynamite", "Boy With Luv (feat. Halsey)", "My Universe"} <= set(names(tracks))
    assert all("BTS" in names(track["artists"]) for track in tracks)
    by_title = sp.search("artist:BTS butter", type="track")["tracks"]["items"]
    assert names(by_title) == ["Butter"]


def test_artist_albums_are_newest_first_and_capped_in_development_mode(stub, sp):
    halsey = stub.artist_id("Halsey")
    assert http_error(lambda: sp.artist_albums(halsey)).http_status == 400  # spotipy asks 20
    albums = sp.artist_albums(halsey, limit=10)["items"]
    dates = [album["release_date"] for album in albums]
    assert dates == sorted(dates, reverse=True)
    assert ("MAP OF THE SOUL : PERSONA", "appears_on") in [
        (album["name"], album["album_group"]) for album in albums
    ]


def test_albums_tracks_and_guest_artists(stub, sp):
    seven = sp.search("track:Seven", type="track")["tracks"]["items"][0]
    assert names(seven["artists"]) == ["Jung Kook", "Latto"]
    latto = seven["artists"][1]
    assert sp.artist(latto["id"])["name"] == "Latto"
    album = sp.album(seven["album"]["id"])
    assert names(album["tracks"]["items"]) == ["Seven (feat. Latto)"]
    assert album["tracks"]["items"][0]["track_number"] == 1
    assert sp.album_tracks(seven["album"]["id"])["total"] == 1


def test_ids_are_checked_like_spotify_does(stub, sp):
    assert http_error(lambda: sp.artist("0" * 22)).http_status == 404
    answer = raw_get(stub, "artists/not-an-id")
    assert answer.json() == {"error": {"status": 400, "message": "Invalid base62 id"}}
    answer = raw_get(stub, "me")
    assert answer.json() == {"error": {"status": 404, "message": "Service not found"}}


def test_several_ids_markets_and_browse_are_extended_only(stub, sp):
    ids = [stub.artist_id("IU"), stub.artist_id("BTS")]
    assert http_error(lambda: sp.artists(ids)).http_status == 403
    assert raw_get(stub, "markets").status_code == 403
    stub.mode = "extended"
    assert names(sp.artists(ids)["artists"]) == ["IU", "BTS"]
    assert "KR" in raw_get(stub, "markets").json()["markets"]
    assert raw_get(stub, "browse/new-releases").json()["albums"]["items"]


def test_a_wrong_client_secret_is_an_oauth_error(stub):
    with pytest.raises(SpotifyOauthError) as caught:
        client(stub, secret="wrong").search("IU", type="artist")
    assert caught.value.error == "invalid_client"
    assert stub.calls[-1] == {"method": "POST", "path": "/api/token", "params": {}, "status": 400}


def test_the_token_endpoint_wants_client_credentials(stub):
    answer = requests.post(
        stub.token_url, data={"grant_type": "password"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "unsupported_grant_type")


def test_a_bearer_token_the_stub_did_not_issue_is_401(stub):
    sp = spotipy.Spotify(auth="made-up-token", retries=0, status_retries=0)
    sp.prefix = stub.api_url
    error = http_error(lambda: sp.search("IU", type="artist"))
    assert error.http_status == 401 and "Invalid access token" in error.msg
    assert requests.get(stub.api_url + "search", params={"q": "IU"}).status_code == 401


def test_a_429_fault_carries_retry_after_and_reason(stub, sp):
    stub.add_fault("status", status=429, retry_after=3600, reason="QUOTA_EXCEEDED", count=1)
    error = http_error(lambda: sp.search("IU", type="artist"))
    assert (error.http_status, error.reason) == (429, "QUOTA_EXCEEDED")
    assert error.headers["Retry-After"] == "3600"
    assert "API rate limit exceeded" in error.msg
    assert sp.search("IU", type="artist")["artists"]["total"] == 1  # count=1: used up


def test_status_faults_follow_the_order_they_were_added(stub, sp):
    stub.add_fault("status", status=503, count=1)
    stub.add_fault("status", status=403, premium=True, count=1)
    assert http_error(lambda: sp.artist(stub.artist_id("IU"))).http_status == 503
    error = http_error(lambda: sp.artist(stub.artist_id("IU")))
    assert error.http_status == 403 and "Active premium subscription required" in error.msg
    assert sp.artist(stub.artist_id("IU"))["name"] == "IU"


def test_a_fault_applies_only_under_its_path_prefix(stub, sp):
    stub.add_fault("status", path_prefix="/v1/artists/", status=500)
    assert sp.search("IU", type="artist")["artists"]["total"] == 1
    assert http_error(lambda: sp.artist(stub.artist_id("IU"))).http_status == 500
    stub.clear_faults()
    assert sp.artist(stub.artist_id("IU"))["name"] == "IU"


def test_a_reset_fault_is_a_connection_error(stub, sp):
    stub.add_fault("reset", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        sp.search("IU", type="artist")
    assert stub.calls[-1]["status"] is None
    assert sp.search("IU", type="artist")["artists"]["total"] == 1


def test_a_truncated_fault_sends_half_a_json_body(stub, sp):
    stub.add_fault("truncated", count=2)
    assert sp.search("IU", type="artist") is None  # spotipy swallows the decoding error
    answer = raw_get(stub, "search", q="IU", type="artist")
    assert answer.status_code == 200
    assert int(answer.headers["Content-Length"]) == len(answer.content)
    with pytest.raises(requests.exceptions.JSONDecodeError):
        answer.json()


def test_an_expired_token_fault_is_401_until_a_new_token_is_fetched(stub, sp):
    sp.search("IU", type="artist")
    stub.add_fault("expired_token", count=1)
    error = http_error(lambda: sp.search("IU", type="artist"))
    assert error.http_status == 401 and "The access token expired" in error.msg
    assert http_error(lambda: sp.search("IU", type="artist")).http_status == 401  # revoked
    sp.auth_manager.get_access_token(as_dict=False, check_cache=False)
    assert sp.search("IU", type="artist")["artists"]["total"] == 1
    assert stub.token_calls() == 2


def test_latency_adds_time_to_every_request(stub, sp):
    sp.search("IU", type="artist")  # the token is fetched outside the timing
    stub.latency_ms = 150
    started = time.monotonic()
    sp.search("IU", type="artist")
    assert time.monotonic() - started >= 0.15
    stub.latency_ms = 0
    stub.add_fault("latency", ms=200, count=1)
    started = time.monotonic()
    sp.search("IU", type="artist")
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    sp.search("IU", type="artist")
    assert time.monotonic() - started < 0.2


def test_a_hang_fault_trips_the_client_timeout(stub):
    sp = client(stub, timeout=0.3)
    sp.search("IU", type="artist")
    stub.add_fault("hang", seconds=1, count=1)
    with pytest.raises(requests.exceptions.Timeout):
        sp.search("IU", type="artist")
    assert sp.search("IU", type="artist")["artists"]["total"] == 1


def test_calls_are_recorded_and_counted(stub, sp):
    sp.search("IU", type="artist", limit=5, market="KR")
    requests.get(stub.url + "/images/anything.svg")
    assert stub.calls[0]["path"] == "/api/token"
    assert stub.calls[1] == {
        "method": "GET",
        "path": "/v1/search",
        "params": {"q": "IU", "limit": "5", "offset": "0", "type": "artist", "market": "KR"},
        "status": 200,
    }
    assert (stub.token_calls(), stub.api_calls(), len(stub.calls)) == (1, 1, 3)
    stub.reset_calls()
    assert (stub.calls, stub.api_calls(), stub.token_calls()) == ([], 0, 0)


def test_images_are_svg_placeholders(stub):
    answer = requests.get(f"{stub.url}/images/{stub.artist_id('Lady Gaga')}.svg")
    assert answer.headers["Content-Type"] == "image/svg+xml"
    assert answer.text.startswith("<svg") and ">LG</text>" in answer.text


def test_unknown_faults_and_modes_are_refused(stub):
    with pytest.raises(ValueError):
        stub.add_fault("flood")
    with pytest.raises(TypeError):
        stub.add_fault("status")
    with pytest.raises(ValueError):
        stub.mode = "development"


def test_a_stub_starts_on_a_free_port_and_stops_twice_safely():
    stub = SpotifyStub().start()
    assert stub.url.startswith("http://127.0.0.1:") and not stub.url.endswith(":0")
    assert stub.api_url == stub.url + "/v1/" and stub.token_url == stub.url + "/api/token"
    stub.stop()
    stub.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(stub.token_url, timeout=1)


def test_the_catalog_is_well_formed(stub):
    artists = stub.catalog["artists"]
    assert len(artists) >= 32
    catalog_names = set(names(artists))
    partners = {}
    for artist in artists:
        albums = [album for album in artist["albums"] if "realistic" not in album]
        tracks = [t for album in albums for t in album["tracks"]]
        assert 5 <= len(tracks) <= 8, artist["name"]
        assert set(artist["related"]) <= catalog_names
        for track in tracks:
            for name in track["artists"]:
                partners.setdefault(name, set()).update(set(track["artists"]) - {name})
    for artist in artists:
        if artist.get("namesake_of"):  # there to be found beside the artist it shares a name with
            assert artist["namesake_of"] in catalog_names
            continue
        assert partners.get(artist["name"]) or len(artist["related"]) >= 3, artist["name"]
    hangul = {
        a["name"] for a in artists if any("가" <= c <= "힣" for c in "".join(a["search_aliases"]))
    }
    assert {"IU", "BTS", "BLACKPINK", "NewJeans", "OH MY GIRL"} <= hangul
    assert not {"Eminem", "Lady Gaga"} & hangul
    assert not set(stub.catalog["_hangul_unknown_to_spotify"]) & hangul
    assert fold(" (G)I-DLE ") == "gidle"


# -- realistic behaviours -------------------------------------------------------------------

JSON_TYPE = "application/json; charset=utf-8"
NON_EXISTING = {"error": {"status": 404, "message": "non existing id"}}


def expect_json_error(answer, status, message):
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == JSON_TYPE
    assert answer.json() == {"error": {"status": status, "message": message}}


def track_named(stub, name):
    return raw_get(stub, "search", q=f"track:{name}", type="track").json()["tracks"]["items"][0]


def test_realistic_is_off_by_default_and_turns_every_behaviour_on(stub):
    assert (stub.realistic, stub.behaviours) == (False, frozenset())
    stub.realistic = True
    assert stub.behaviours == BEHAVIOURS and stub.realistic
    stub.behaviours = {"versions"}
    assert not stub.realistic
    with pytest.raises(ValueError):
        stub.behaviours = {"versions", "flaky"}
    assert SpotifyStub(realistic=True).realistic


@pytest.mark.parametrize("endpoint", ["", "/top-tracks", "/related-artists", "/albums"])
def test_an_artist_taken_down_is_a_non_existing_id_everywhere(stub, endpoint):
    stub.mode = "extended"
    stub.behaviours = {"taken_down"}
    stub.take_down("IU")
    answer = raw_get(stub, f"artists/{stub.artist_id('IU')}{endpoint}", market="KR")
    expect_json_error(answer, 404, "non existing id")
    found = raw_get(stub, "search", q="IU", type="artist").json()["artists"]["items"]
    assert "IU" not in names(found)
    stub.behaviours = set()
    assert raw_get(stub, f"artists/{stub.artist_id('IU')}{endpoint}", market="KR").ok


@pytest.mark.parametrize("endpoint", ["", "/top-tracks", "/related-artists", "/albums"])
def test_unknown_and_malformed_ids_get_the_real_texts(stub, endpoint):
    stub.mode = "extended"
    stub.behaviours = {"not_found"}
    unknown = raw_get(stub, f"artists/{'0' * 22}{endpoint}", market="KR")
    expect_json_error(unknown, 404, "non existing id")
    expect_json_error(raw_get(stub, f"artists/not-an-id{endpoint}"), 400, "invalid id")
    stub.behaviours = set()
    expect_json_error(raw_get(stub, f"artists/{'0' * 22}{endpoint}"), 404, "Resource not found")


def test_a_namesake_comes_after_the_artist_and_pollutes_an_artist_filter(stub, sp):
    stub.mode = "extended"
    stub.behaviours = {"namesakes"}
    other = stub.add_namesake("IU", ["Namesake Song"])
    found = sp.search("IU", type="artist", limit=5)["artists"]["items"]
    assert [(a["name"], a["id"]) for a in found[:2]] == [
        ("IU", stub.artist_id("IU")),
        ("IU", other),
    ]
    assert found[1]["images"] == [] and found[1]["followers"]["total"] < 100
    tracks = sp.search('artist:"IU"', type="track", limit=20)["tracks"]["items"]
    assert "Namesake Song" in names(tracks)
    polluter = next(t for t in tracks if t["name"] == "Namesake Song")
    assert [(a["name"], a["id"]) for a in polluter["artists"]] == [("IU", other)]
    assert sp.artist(other)["images"] == []
    stub.behaviours = set()
    assert names(sp.search("IU", type="artist")["artists"]["items"]) == ["IU"]
    assert http_error(lambda: sp.artist(other)).http_status == 404


def test_a_track_unplayable_in_the_market_says_so(stub):
    stub.behaviours = {"unplayable"}
    stub.restrict("Celebrity", "KR")
    celebrity = track_named(stub, "Celebrity")
    assert "is_playable" not in celebrity  # no market, no Track Relinking
    in_kr = raw_get(stub, f"tracks/{celebrity['id']}", market="KR").json()
    assert (in_kr["is_playable"], in_kr["restrictions"]) == (False, {"reason": "market"})
    assert in_kr["name"] == "Celebrity"  # the metadata stays
    market = next(m for m in ("US", "JP", "GB") if not stub.unplayable(celebrity["id"], m))
    elsewhere = raw_get(stub, f"tracks/{celebrity['id']}", market=market).json()
    assert elsewhere["is_playable"] is True and "restrictions" not in elsewhere
    album = raw_get(stub, f"albums/{celebrity['album']['id']}/tracks", market="KR").json()
    assert {t["name"]: t["is_playable"] for t in album["items"]}["Celebrity"] is False
    stub.mode = "extended"
    assert "KR" not in raw_get(stub, f"tracks/{celebrity['id']}").json()["available_markets"]


def test_only_the_tracks_a_test_restricts_are_unplayable(stub):
    stub.behaviours = {"unplayable"}
    ids = [t["id"] for a in stub.catalog["artists"] for al in a["albums"] for t in al["tracks"]]
    assert not [i for i in ids if stub.unplayable(i, "KR")]
    stub.restrict("Celebrity", "KR")
    (restricted,) = [i for i in ids if stub.unplayable(i, "KR")]
    answer = raw_get(stub, f"tracks/{restricted}", market="KR").json()
    assert (answer["is_playable"], answer["restrictions"]) == (False, {"reason": "market"})
    assert raw_get(stub, f"tracks/{restricted}", market="US").json()["is_playable"] is True


def test_search_items_can_be_null(stub, sp):
    stub.behaviours = {"null_items"}
    stub.restrict("Celebrity", "KR")
    plain = sp.search("artist:IU", type="track", limit=10)["tracks"]
    in_kr = sp.search("artist:IU", type="track", limit=10, market="KR")["tracks"]
    assert in_kr["total"] == plain["total"]
    at = names(plain["items"]).index("Celebrity")
    assert in_kr["items"][at] is None
    assert [t for t in in_kr["items"] if t] == [
        t for i, t in enumerate(plain["items"]) if in_kr["items"][i] is not None
    ]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_single_and_a_live_version_are_tracks_of_their_own(stub, sp):
    stub.mode = "extended"
    coldplay = stub.artist_id("Coldplay")
    assert names(sp.artist_top_tracks(coldplay)["tracks"]).count("My Universe") == 1
    stub.behaviours = {"versions"}
    top = sp.artist_top_tracks(coldplay)["tracks"]
    versions = [t for t in top if t["name"] == "My Universe"]
    assert sorted(t["album"]["album_type"] for t in versions) == ["album", "single"]
    assert len({t["id"] for t in versions}) == 2
    found = names(sp.search("Viva La Vida", type="track")["tracks"]["items"])
    assert {"Viva La Vida", "Viva La Vida - Live"} <= set(found)
    bts_top = sp.artist_top_tracks(stub.artist_id("BTS"))["tracks"]
    assert names(bts_top).count("My Universe") == 2


def test_a_query_over_100_characters_is_a_bad_request(stub):
    stub.behaviours = {"query_length"}
    assert raw_get(stub, "search", q="a" * 100, type="track").status_code == 200
    expect_json_error(raw_get(stub, "search", q="a" * 101, type="track"), 400, "Bad request.")
    stub.behaviours = set()
    assert raw_get(stub, "search", q="a" * 101, type="track").status_code == 200


def test_a_lost_browse_endpoint_answers_429_not_403(stub, sp):
    assert raw_get(stub, "browse/new-releases").status_code == 403
    stub.behaviours = {"removed_429"}
    answer = raw_get(stub, "browse/new-releases")
    expect_json_error(answer, 429, "API rate limit exceeded")
    assert answer.headers["Retry-After"] == "11"
    assert raw_get(stub, "markets").status_code == 403  # only the browse captures are 429s
    stub.mode = "extended"
    assert raw_get(stub, "browse/new-releases").status_code == 200


def test_the_token_endpoint_can_answer_an_html_error_page(stub):
    stub.add_fault("html", path_prefix="/api/token", status=503, count=1)
    answer = requests.post(
        stub.token_url, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert answer.status_code == 503
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer.text.startswith("<html>")
    stub.add_fault("html", path_prefix="/api/token", count=1)
    with pytest.raises(SpotifyOauthError) as caught:
        client(stub).search("IU", type="artist")
    assert caught.value.error.startswith("<html>")  # spotipy falls back on the text


def test_an_error_can_be_a_bare_string(stub, sp):
    sp.search("IU", type="artist")
    stub.add_fault("plain_text", count=1)
    error = http_error(lambda: sp.search("IU", type="artist"))
    assert error.http_status == 403 and "User not approved for app" in error.msg
    stub.add_fault("plain_text", status=400, text="Bad", count=1)
    answer = raw_get(stub, "search", q="IU", type="artist")
    assert (answer.status_code, answer.text) == (400, "Bad")
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
