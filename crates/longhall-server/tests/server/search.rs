//! Content search: substrings and CJK, author and date filters, only readable rooms, capped.

use serde_json::{Value, json};

use super::harness::*;

fn found_texts(v: &Value) -> Vec<String> {
    let mut t = texts(&v["messages"]);
    t.sort();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_substrings_cjk_by_author_and_date_only_where_readable() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["seeker@example.org", "writer@example.org", "insider@example.org"]).await;
    let (seeker, writer, insider) = (&t[0], &t[1], &t[2]);
    let cat = s.category(json!({ "name": "Eng", "allowed_members": ["domain:example.org"] })).await;
    let open = s.room(&admin, json!({ "name": "Builds", "category": cat.to_string(), "privacy": "open" })).await;
    let closed = s
        .room(
            &admin,
            json!({ "name": "Postmortems", "category": cat.to_string(), "members": ["user:insider@example.org"] }),
        )
        .await;
    let secret = s
        .room(
            &admin,
            json!({ "name": "Layoffs", "category": cat.to_string(), "privacy": "secret", "members": ["user:insider@example.org"] }),
        )
        .await;

    let mut posted: Vec<(String, i64)> = Vec::new();
    for (tok, room, text) in [
        (writer, open, "the deployment failed at noon"),
        (seeker, open, "明天的会议改到三点"),
        (writer, open, "Redeploying now"),
        (insider, closed, "deployment post-mortem: the disk was full"),
        (insider, secret, "deployment of the layoff plan"),
        (writer, open, "all green after the deploy"),
    ] {
        let p = s.say(tok, room, text).await;
        posted.push((text.to_owned(), p["ts"].as_i64().unwrap()));
    }
    // A last message strictly later than the first, so date ranges can split the set.
    let first_ts = posted[0].1;
    let mut n = 0;
    while posted.last().unwrap().1 == first_ts {
        n += 1;
        let p = s.say(writer, open, &format!("tick {n}")).await;
        posted.push((format!("tick {n}"), p["ts"].as_i64().unwrap()));
    }

    let search = |tok: &str, q: &str| {
        let path = format!("/api/v1/search/messages?{q}");
        let tok = tok.to_owned();
        let s = &s;
        async move { s.get(&tok, &path).await.ok() }
    };

    // Substring inside a word, case-insensitive, only from readable rooms.
    let r = search(seeker, &format!("q={}", enc("ploy"))).await;
    assert_eq!(found_texts(&r), ["Redeploying now", "all green after the deploy", "the deployment failed at noon"]);
    assert_eq!(r["cap_hit"], false);
    // The insider reads the closed and the secret room too.
    let r = search(insider, &format!("q={}", enc("deployment"))).await;
    assert_eq!(
        found_texts(&r),
        ["deployment of the layoff plan", "deployment post-mortem: the disk was full", "the deployment failed at noon"]
    );
    // Results are newest first.
    let all = search(insider, &format!("q={}", enc("deploy"))).await;
    let ts: Vec<i64> = all["messages"].as_array().unwrap().iter().map(|m| m["ts"].as_i64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] >= w[1]), "newest first: {ts:?}");
    // Nobody finds what's in rooms they can't read, whatever they search for.
    for q in ["layoff", "mortem", "disk was full"] {
        assert_eq!(search(seeker, &format!("q={}", enc(q))).await["messages"], json!([]), "seeker searching {q}");
    }
    assert_eq!(search(seeker, &format!("q={}&room={secret}", enc("layoff"))).await["messages"], json!([]));

    // CJK: two characters and a longer run.
    for q in ["会议", "会议改到", "三点"] {
        let r = search(seeker, &format!("q={}", enc(q))).await;
        assert_eq!(found_texts(&r), ["明天的会议改到三点"], "searching {q}");
    }
    assert_eq!(search(seeker, &format!("q={}", enc("会谈"))).await["messages"], json!([]));

    // Author filter.
    let r = search(seeker, &format!("q={}&author={}", enc("deploy"), enc("writer@example.org"))).await;
    assert_eq!(found_texts(&r).len(), 3);
    let r = search(seeker, &format!("author={}", enc("seeker@example.org"))).await;
    assert_eq!(found_texts(&r), ["明天的会议改到三点"]);
    assert_eq!(search(seeker, &format!("author={}", enc("ghost@example.org"))).await["messages"], json!([]));

    // Date filters (inclusive): everything strictly after the first message's time, and
    // everything up to it.
    let readable: Vec<&(String, i64)> =
        posted.iter().filter(|(t, _)| !t.contains("layoff") && !t.contains("mortem")).collect();
    let later: Vec<String> = {
        let mut v: Vec<String> = readable.iter().filter(|(_, ts)| *ts > first_ts).map(|(t, _)| t.clone()).collect();
        v.sort();
        v
    };
    let earlier: Vec<String> = {
        let mut v: Vec<String> = readable.iter().filter(|(_, ts)| *ts <= first_ts).map(|(t, _)| t.clone()).collect();
        v.sort();
        v
    };
    assert!(!later.is_empty() && !earlier.is_empty());
    assert_eq!(found_texts(&search(seeker, &format!("from={}", first_ts + 1)).await), later);
    assert_eq!(found_texts(&search(seeker, &format!("to={first_ts}")).await), earlier);
    assert_eq!(
        found_texts(&search(seeker, &format!("from={first_ts}&to={first_ts}&q={}", enc("noon"))).await),
        ["the deployment failed at noon"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_says_when_the_cap_was_hit() {
    let s = TestServer::start().await;
    let t = s.user("counter@example.org").await;
    let lobby = id_of(&s.get(&t, "/api/v1/rooms?q=Lobby").await.ok()["items"][0]);
    for i in 0..4 {
        s.say(&t, lobby, &format!("capword number {i}")).await;
    }
    let r = s.get(&t, "/api/v1/search/messages?q=capword&limit=3").await.ok();
    assert_eq!((r["messages"].as_array().unwrap().len(), r["cap_hit"].as_bool()), (3, Some(true)));
    let r = s.get(&t, "/api/v1/search/messages?q=capword&limit=4").await.ok();
    assert_eq!((r["messages"].as_array().unwrap().len(), r["cap_hit"].as_bool()), (4, Some(false)));
    s.get(&t, "/api/v1/search/messages?q=capword&limit=0").await.err(422, "invalid_value");
    s.get(&t, "/api/v1/search/messages?q=capword&limit=201").await.err(422, "invalid_value");
}
