//! The seeded capacity model (docs: shared spec "performance", the original's capacity plan):
//! which rooms exist, who is a member of which, who joins what, who presents, and how posts
//! are spread. Everything here is a pure function of the parameters and the seed.

use serde::{Deserialize, Serialize};

/// A small, fast, seedable generator (SplitMix64): reproducible across platforms and
/// versions, which a workload model must be.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// Room size classes of the capacity model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Small,
    Medium,
    Large,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::Small, Class::Medium, Class::Large];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Small => "small",
            Class::Medium => "medium",
            Class::Large => "large",
        }
    }
}

/// Which workload to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// The capacity-model mix: small, medium and large rooms, posts spread 92/7/1 % (P1, P2, P5).
    Mix,
    /// One Open auditorium that every user joins; one presenter posts (P3).
    Auditorium,
    /// One Open room that every user joins at the same moment, with backchat waiting (P4).
    JoinStorm,
    /// The delivery comparison with the baseline broadcaster (P10): Closed rooms of 30, 143
    /// and 500; every user a member of 3, 1 and 1 of them and joined to all 5; posts 92/7/1 %.
    P10,
}

impl Scenario {
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Mix => "mix",
            Scenario::Auditorium => "auditorium",
            Scenario::JoinStorm => "join-storm",
            Scenario::P10 => "p10",
        }
    }
}

/// The parameters the model is built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub scenario: Scenario,
    pub users: u32,
    pub seed: u64,
    /// Largest size of a large room (16,000 in the capacity plan).
    pub large_size: u32,
}

/// One room of the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomPlan {
    pub class: Class,
    pub open: bool,
    pub auditorium: bool,
    /// Users on the member list (for an Open room: the users the model puts in it).
    pub members: Vec<u32>,
    /// Presenters (auditoriums only), all of them joiners.
    pub presenters: Vec<u32>,
}

/// The whole model: rooms, and for each user the rooms (indices) it joins.
#[derive(Debug, Clone)]
pub struct Workload {
    pub params: Params,
    pub rooms: Vec<RoomPlan>,
    pub joins: Vec<Vec<u32>>,
    /// Per room: the users who join it.
    pub joiners: Vec<Vec<u32>>,
    /// Per room: the users who may post there (joiners; presenters in auditoriums).
    pub posters: Vec<Vec<u32>>,
    /// Per class: the rooms that have someone to post.
    pub postable: [Vec<u32>; 3],
}

/// Share of posts per class (small, medium, large), in per mille.
pub const POST_MIX: [u32; 3] = [920, 70, 10];

const SMALL: u32 = 30;
const MEDIUM: u32 = 150;
/// Memberships per user in small, medium and large rooms (`mix`: it joins all its small and
/// medium rooms and one of its large ones).
const SLOTS: [u32; 3] = [12, 2, 2];
/// Room sizes of `p10` (small, medium, large) and memberships per user, every one joined.
const P10_SIZES: [u32; 3] = [30, 143, 500];
const P10_SLOTS: [u32; 3] = [3, 1, 1];

fn fraction_of(n: usize, per_mille: usize) -> usize {
    (n * per_mille + 500) / 1000
}

impl Workload {
    pub fn build(params: &Params) -> Workload {
        let mut rng = Rng::new(params.seed);
        let u = params.users.max(1);
        let mut rooms = Vec::new();
        match params.scenario {
            Scenario::Mix | Scenario::P10 => {
                let mix = params.scenario == Scenario::Mix;
                let (sizes, slots) =
                    if mix { ([SMALL, MEDIUM, params.large_size.max(1)], SLOTS) } else { (P10_SIZES, P10_SLOTS) };
                for (ci, class) in Class::ALL.into_iter().enumerate() {
                    let size = sizes[ci].min(u);
                    let per_slot = u.div_ceil(size) as usize;
                    let first = rooms.len();
                    for _slot in 0..slots[ci] {
                        let mut perm: Vec<u32> = (0..u).collect();
                        rng.shuffle(&mut perm);
                        for j in 0..per_slot {
                            let (a, b) = (j * u as usize / per_slot, (j + 1) * u as usize / per_slot);
                            let mut members = perm[a..b].to_vec();
                            members.sort_unstable();
                            rooms.push(RoomPlan { class, open: false, auditorium: false, members, presenters: vec![] });
                        }
                    }
                    if !mix {
                        continue; // p10: every room Closed, everyone posts
                    }
                    // 3 % (small, medium) or half (large) Open; 1 % or half auditoriums.
                    let n = rooms.len() - first;
                    let (open, aud) = if class == Class::Large {
                        (fraction_of(n, 500), fraction_of(n, 500))
                    } else {
                        (fraction_of(n, 30), fraction_of(n, 10))
                    };
                    let mut order: Vec<usize> = (first..rooms.len()).collect();
                    rng.shuffle(&mut order);
                    for &r in order.iter().take(open) {
                        rooms[r].open = true;
                    }
                    rng.shuffle(&mut order);
                    for &r in order.iter().take(aud) {
                        rooms[r].auditorium = true;
                    }
                }
            }
            Scenario::Auditorium | Scenario::JoinStorm => {
                rooms.push(RoomPlan {
                    class: Class::Large,
                    open: true,
                    auditorium: params.scenario == Scenario::Auditorium,
                    members: (0..u).collect(),
                    presenters: vec![],
                });
            }
        }
        // Joins: every small and medium room of the user, one of its large rooms (`mix`); every
        // room of the user (the others).
        let mut joins: Vec<Vec<u32>> = vec![Vec::new(); u as usize];
        let mut large_of: Vec<Vec<u32>> = vec![Vec::new(); u as usize];
        for (ri, room) in rooms.iter().enumerate() {
            for &m in &room.members {
                if room.class == Class::Large && params.scenario == Scenario::Mix {
                    large_of[m as usize].push(ri as u32);
                } else {
                    joins[m as usize].push(ri as u32);
                }
            }
        }
        for (user, larges) in large_of.iter().enumerate() {
            if !larges.is_empty() {
                let pick = larges[rng.below(larges.len() as u64) as usize];
                joins[user].push(pick);
            }
        }
        let mut joiners: Vec<Vec<u32>> = vec![Vec::new(); rooms.len()];
        for (user, js) in joins.iter().enumerate() {
            for &r in js {
                joiners[r as usize].push(user as u32);
            }
        }
        // Presenters: a few joiners of each auditorium.
        for (ri, room) in rooms.iter_mut().enumerate() {
            if !room.auditorium {
                continue;
            }
            let few = match (params.scenario, room.class) {
                (Scenario::Auditorium, _) => 1,
                (_, Class::Small) => 2,
                (_, Class::Medium) => 3,
                (_, Class::Large) => 5,
            };
            let mut candidates = joiners[ri].clone();
            rng.shuffle(&mut candidates);
            candidates.truncate(few);
            candidates.sort_unstable();
            room.presenters = candidates;
        }
        let posters: Vec<Vec<u32>> = rooms
            .iter()
            .zip(&joiners)
            .map(|(room, js)| if room.auditorium { room.presenters.clone() } else { js.clone() })
            .collect();
        let mut postable: [Vec<u32>; 3] = Default::default();
        for (ri, room) in rooms.iter().enumerate() {
            if !posters[ri].is_empty() {
                postable[room.class as usize].push(ri as u32);
            }
        }
        Workload { params: params.clone(), rooms, joins, joiners, posters, postable }
    }

    /// Picks the room and the poster of the next post, following the 92/7/1 mix (classes
    /// without rooms give their share to the others).
    pub fn pick_post(&self, rng: &mut Rng) -> Option<(u32, u32)> {
        let weights: Vec<u32> = (0..3).map(|c| if self.postable[c].is_empty() { 0 } else { POST_MIX[c] }).collect();
        let total: u32 = weights.iter().sum();
        if total == 0 {
            return None;
        }
        let mut x = rng.below(total as u64) as u32;
        let mut class = 0;
        for (c, w) in weights.iter().enumerate() {
            if x < *w {
                class = c;
                break;
            }
            x -= w;
        }
        let rooms = &self.postable[class];
        let room = rooms[rng.below(rooms.len() as u64) as usize];
        let posters = &self.posters[room as usize];
        let poster = posters[rng.below(posters.len() as u64) as usize];
        Some((room, poster))
    }

    pub fn count(&self, class: Class) -> usize {
        self.rooms.iter().filter(|r| r.class == class).count()
    }

    pub fn summary(&self) -> ModelSummary {
        let per = |f: &dyn Fn(&RoomPlan) -> bool| -> [usize; 3] {
            let mut out = [0; 3];
            for r in self.rooms.iter().filter(|r| f(r)) {
                out[r.class as usize] += 1;
            }
            out
        };
        let rooms = per(&|_| true);
        let open = per(&|r| r.open);
        let auditoriums = per(&|r| r.auditorium);
        let mut largest = [0usize; 3];
        let mut joined = [0usize; 3];
        for (ri, r) in self.rooms.iter().enumerate() {
            let c = r.class as usize;
            largest[c] = largest[c].max(r.members.len());
            joined[c] += self.joiners[ri].len();
        }
        let classes = Class::ALL
            .iter()
            .enumerate()
            .map(|(c, class)| ClassSummary {
                class: class.as_str().into(),
                rooms: rooms[c],
                open: open[c],
                auditoriums: auditoriums[c],
                largest: largest[c],
                joins: joined[c],
            })
            .filter(|s| s.rooms > 0)
            .collect();
        ModelSummary {
            scenario: self.params.scenario.as_str().into(),
            users: self.params.users,
            seed: self.params.seed,
            rooms: self.rooms.len(),
            memberships: self.rooms.iter().map(|r| r.members.len()).sum(),
            joins: self.joins.iter().map(Vec::len).sum(),
            classes,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassSummary {
    pub class: String,
    pub rooms: usize,
    pub open: usize,
    pub auditoriums: usize,
    pub largest: usize,
    /// Joined (user, room) pairs.
    pub joins: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelSummary {
    pub scenario: String,
    pub users: u32,
    pub seed: u64,
    pub rooms: usize,
    pub memberships: usize,
    pub joins: usize,
    pub classes: Vec<ClassSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(users: u32) -> Workload {
        Workload::build(&Params { scenario: Scenario::Mix, users, seed: 7, large_size: 16_000 })
    }

    #[test]
    fn p10_has_the_rooms_of_the_comparison_and_about_41_deliveries_per_post() {
        let w = Workload::build(&Params { scenario: Scenario::P10, users: 1_000, seed: 1, large_size: 16_000 });
        let s = w.summary();
        let per_class: Vec<(usize, usize, usize, usize)> =
            s.classes.iter().map(|c| (c.rooms, c.largest, c.open, c.auditoriums)).collect();
        assert_eq!(per_class, [(102, 30, 0, 0), (7, 143, 0, 0), (2, 500, 0, 0)]);
        for (user, js) in w.joins.iter().enumerate() {
            let mut per = [0; 3];
            for &r in js {
                per[w.rooms[r as usize].class as usize] += 1;
                assert!(w.rooms[r as usize].members.contains(&(user as u32)));
            }
            assert_eq!(per, [3, 1, 1], "user {user} joins every room it is a member of");
        }
        let mut rng = Rng::new(5);
        let n = 100_000;
        let deliveries: usize = (0..n).map(|_| w.joiners[w.pick_post(&mut rng).unwrap().0 as usize].len()).sum();
        let per_post = deliveries as f64 / n as f64;
        assert!((40.0..44.0).contains(&per_post), "{per_post} deliveries per post");
    }

    #[test]
    fn every_user_is_member_of_12_2_2_and_joins_12_2_1() {
        let w = mix(3_000);
        let mut member = vec![[0u32; 3]; 3_000];
        for r in &w.rooms {
            for &m in &r.members {
                member[m as usize][r.class as usize] += 1;
            }
        }
        assert!(member.iter().all(|m| *m == [12, 2, 2]));
        for js in &w.joins {
            let mut per = [0; 3];
            for &r in js {
                per[w.rooms[r as usize].class as usize] += 1;
            }
            assert_eq!(per, [12, 2, 1]);
        }
        assert!(w.rooms.iter().filter(|r| r.class == Class::Small).all(|r| r.members.len() == 30));
        assert!(w.rooms.iter().filter(|r| r.class == Class::Medium).all(|r| r.members.len() == 150));
    }

    #[test]
    fn shares_of_open_rooms_and_auditoriums_follow_the_plan() {
        let w = mix(30_000);
        let s = w.summary();
        let small = &s.classes[0];
        assert_eq!(small.rooms, 12_000);
        assert_eq!(small.open, 360);
        assert_eq!(small.auditoriums, 120);
        let large = &s.classes[2];
        assert_eq!(large.rooms, 4);
        assert!(large.largest <= 16_000);
        assert_eq!((large.open, large.auditoriums), (2, 2));
        for (ri, r) in w.rooms.iter().enumerate() {
            if r.auditorium {
                assert!(!r.presenters.is_empty() && r.presenters.iter().all(|p| w.joiners[ri].contains(p)));
            }
        }
    }

    #[test]
    fn the_model_is_a_function_of_the_seed_and_posts_follow_the_mix() {
        let (a, b) = (mix(600), mix(600));
        assert_eq!(a.joins, b.joins);
        let mut rng = Rng::new(1);
        let mut per = [0u32; 3];
        for _ in 0..100_000 {
            let (room, poster) = a.pick_post(&mut rng).unwrap();
            assert!(a.posters[room as usize].contains(&poster));
            per[a.rooms[room as usize].class as usize] += 1;
        }
        assert!((91_000..93_000).contains(&per[0]), "{per:?}");
        assert!((6_500..7_500).contains(&per[1]), "{per:?}");
        assert!((800..1_200).contains(&per[2]), "{per:?}");
    }
}
