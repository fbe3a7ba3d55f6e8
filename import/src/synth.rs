//! Realistic synthetic users files for benchmarks and load tests: accented names,
//! quoted values with commas, roles and groups, managers defined earlier in the
//! file. Deterministic for a given size and seed.

const FIRST: [&str; 16] = [
    "Zoë", "Amélie", "José", "Siobhán", "Øyvind", "Mary Ann", "Łukasz", "Chloé", "Pat", "Sam", "Noël", "Björn",
    "Aoife", "Jürgen", "Renée", "Kim",
];
const LAST: [&str; 16] = [
    "Brontë",
    "O'Neil",
    "García",
    "Müller",
    "Smith-Jones",
    "Nguyễn",
    "Dubois",
    "Kowalski",
    "Ó Briain",
    "Jensen",
    "Rossi",
    "Ahmed",
    "Van der Berg",
    "Novák",
    "Lefèvre",
    "Evans",
];
const JOBS: [&str; 8] =
    ["Nurse", "Ward Sister", "Porter", "Consultant, Cardiology", "Clerk", "\"Lead\" Pharmacist", "GP", "Paramedic"];
const ROLES: [&str; 6] = ["Staff", "Coordinator", "Approver", "Auditor", "Manager", "Reader"];

/// A tiny deterministic generator: reproducible files without a dependency.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() as usize) % items.len()]
    }
}

pub const HEADINGS: &str = "userId,externalId,title,firstName,lastName,email,mobile,jobTitle,organisation,status,enabled,reportsTo,roles,groups,taskNotification,changePasswordNextTime,notifyIfNewUser,password,transaction";

fn quote(value: &str) -> String {
    if value.contains([',', '"', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// A users file of `rows` new users in the standard format.
pub fn users_csv(rows: usize, seed: u64) -> Vec<u8> {
    let mut rng = Lcg(seed);
    let mut out = String::with_capacity(rows * 170 + 200);
    out.push_str(HEADINGS);
    out.push_str("\r\n");
    for i in 0..rows {
        let first = rng.pick(&FIRST);
        let last = rng.pick(&LAST);
        let job = rng.pick(&JOBS);
        let roles = format!("{}|{}", rng.pick(&ROLES), rng.pick(&ROLES));
        let manager =
            if i >= 10 { format!("u{}", (rng.next() as usize) % (i / 10 * 10).max(1)) } else { String::new() };
        let title = ["Dr", "Mr", "Ms", "Mx", ""][i % 5];
        out.push_str(&format!(
            "u{i},EMP{i:07},{title},{},{},u{i}@example.org,+44 7700 {:06},{},RXX0{},,true,{manager},{roles},Team{},Email,0,false,,\r\n",
            quote(first),
            quote(last),
            rng.next() % 1_000_000,
            quote(job),
            i % 3,
            i % 50,
        ));
    }
    out.into_bytes()
}
