"""Deterministic synthetic members for the seed command, the demo, tests and benchmarks.

The generator is pure (standard library plus `nnmatch.profile`, one `random.Random(seed)`
instance, no clock) so the same seed always yields the same community, byte for byte.

The members are shaped to give matching something real to find: personas create a two-sided
market (mentors and mentees, founders and investors, NGOs holding field data and researchers
who need it), and the free text of offers and seeks reuses the member's domain vocabulary, so
a seeker's text and a complementary offerer's text share words. The community is global south
heavy, like the AI for Good Neural Network and its Young AI Leaders hubs.

Vocabulary tables are kept compact by hand (`fmt: off`); the code below them is formatted.
"""

from __future__ import annotations

import random
import unicodedata
from bisect import bisect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TypeVar

from nnmatch.profile import (
    BulkProfileLine,
    Intent,
    Kind,
    Organisation,
    OrganisationType,
    Visibility,
)

__all__ = [
    "DOMAINS",
    "REGIONS",
    "Domain",
    "generate_member",
    "generate_members",
    "hub_id",
]

_T = TypeVar("_T")

SHOW_ORGANISATION_RATE = 0.85
DISCOVERABLE_RATE = 0.95

# fmt: off
# --------------------------------------------------------------------------------------------
# Names: (first names, last names) per naming tradition.
# --------------------------------------------------------------------------------------------

NAME_POOLS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "east_africa": (
        ("Wanjiru", "Achieng", "Baraka", "Neema", "Amani", "Zawadi", "Brian", "Faith", "Kevin",
         "Mercy", "Joseph", "Grace", "Daudi", "Imani", "Esther", "Emmanuel", "Halima", "Musa",
         "Aloys", "Claudine", "Nadia", "Eric"),
        ("Kamau", "Otieno", "Mwangi", "Odhiambo", "Njoroge", "Mutua", "Wekesa", "Kiprop",
         "Nakato", "Mugisha", "Uwimana", "Habimana", "Mushi", "Mollel", "Ssempala", "Namukasa",
         "Chebet", "Okello", "Kariuki", "Akinyi", "Niyonsaba", "Mbwambo"),
    ),
    "ethiopia": (
        ("Abebe", "Selam", "Hana", "Dawit", "Meron", "Yonas", "Tigist", "Bereket", "Liya",
         "Samuel", "Hiwot", "Fikru", "Mahlet", "Eyerusalem", "Biniam", "Rahel"),
        ("Tesfaye", "Bekele", "Girma", "Haile", "Alemu", "Mekonnen", "Tadesse", "Gebremedhin",
         "Wolde", "Assefa", "Kebede", "Desta", "Negash", "Abera"),
    ),
    "west_africa": (
        ("Chinedu", "Ngozi", "Oluwaseun", "Aisha", "Kwame", "Ama", "Kofi", "Abena", "Emeka",
         "Funmilayo", "Yaw", "Efua", "Ibrahim", "Zainab", "Tunde", "Adaeze", "Fatima", "Obinna",
         "Esi", "Kelechi", "Temitope", "Nana"),
        ("Okafor", "Adeyemi", "Mensah", "Boateng", "Osei", "Nwosu", "Bello", "Abubakar", "Owusu",
         "Eze", "Asante", "Danjuma", "Okonkwo", "Agyeman", "Ogunleye", "Addo", "Ibekwe",
         "Adebayo", "Quaye", "Yakubu", "Amoah", "Obi"),
    ),
    "francophone_africa": (
        ("Aminata", "Moussa", "Fatou", "Cheikh", "Awa", "Mamadou", "Ousmane", "Mariam", "Koffi",
         "Adjoua", "Jean-Paul", "Nadège", "Serge", "Aïcha", "Ibrahima", "Rokhaya", "Boris",
         "Chantal", "Yannick", "Estelle", "Patrice", "Prisca"),
        ("Diop", "Ndiaye", "Traoré", "Coulibaly", "Konaté", "Diallo", "Kouassi", "Mbarga",
         "Fotso", "Mukendi", "Tshibangu", "Ouédraogo", "Sow", "Camara", "Keïta", "Yao",
         "Nkoulou", "Agbeko", "Hounkpatin", "Kaboré", "Fall", "Ilunga"),
    ),
    "southern_africa": (
        ("Thandiwe", "Sipho", "Lerato", "Thabo", "Nomvula", "Kagiso", "Tendai", "Chipo",
         "Tatenda", "Mpho", "Naledi", "Bongani", "Lindiwe", "Chisomo", "Mwila", "Themba",
         "Anele", "Palesa", "Farai", "Kudzai", "Pieter", "Ayesha"),
        ("Nkosi", "Dlamini", "Khumalo", "Mokoena", "Ndlovu", "Moyo", "Banda", "Phiri", "Mwale",
         "Chikwanha", "Mahlangu", "Sithole", "Mutasa", "Chanda", "Tembo", "Molefe",
         "van der Merwe", "Naidoo", "Pillay", "Botha", "Kgosi", "Zulu"),
    ),
    "arabic": (
        ("Youssef", "Mariam", "Omar", "Salma", "Ahmed", "Nour", "Karim", "Layla", "Hassan",
         "Fatima", "Khaled", "Yasmine", "Mohamed", "Rania", "Tarek", "Hiba", "Amine", "Sara",
         "Ali", "Imane", "Rami", "Dina"),
        ("El-Sayed", "Benali", "Haddad", "Mansour", "Khalil", "Saleh", "Bensaid", "Farouk",
         "Hamdi", "Abdallah", "Nasser", "Aziz", "Chaabane", "Alaoui", "Trabelsi", "Al-Masri",
         "Kassem", "Othman", "Mahmoud", "Bennani", "Haddadi", "Jaber"),
    ),
    "turkish": (
        ("Elif", "Mehmet", "Zeynep", "Emre", "Ayşe", "Can", "Deniz", "Burak", "Selin", "Mert",
         "Ece", "Kerem"),
        ("Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Öztürk", "Aydın", "Arslan", "Doğan",
         "Koç"),
    ),
    "india": (
        ("Priya", "Arjun", "Ananya", "Rahul", "Kavya", "Vikram", "Rohan", "Meera", "Aditya",
         "Sunita", "Lakshmi", "Karthik", "Divya", "Sanjay", "Pooja", "Harish", "Neha", "Arvind",
         "Shreya", "Imran", "Farah", "Gurpreet"),
        ("Sharma", "Patel", "Iyer", "Reddy", "Nair", "Das", "Mehta", "Banerjee", "Krishnan",
         "Rao", "Kulkarni", "Menon", "Gupta", "Singh", "Joshi", "Chatterjee", "Pillai",
         "Subramanian", "Khan", "Verma", "Bhat", "Desai"),
    ),
    "pakistan_bangladesh": (
        ("Fatima", "Imran", "Sana", "Ayesha", "Nusrat", "Sajid", "Tahmina", "Bilal", "Hira",
         "Farhan", "Rafiq", "Sadia", "Zara", "Usman", "Nabila", "Tanvir", "Mahmuda", "Hamza"),
        ("Khan", "Ahmed", "Chowdhury", "Rahman", "Siddiqui", "Qureshi", "Hossain", "Malik",
         "Butt", "Islam", "Akhtar", "Haque", "Sheikh", "Mirza", "Karim", "Talukder"),
    ),
    "sri_lanka": (
        ("Nimal", "Dilani", "Kasun", "Tharindu", "Ishara", "Sanduni", "Chaminda", "Nadeesha",
         "Ruwan", "Kavindi", "Priyanthi", "Thilina"),
        ("Perera", "Fernando", "Silva", "Jayasinghe", "Wickramasinghe", "Bandara", "Dissanayake",
         "Gunawardena", "Rajapaksha", "Herath"),
    ),
    "nepal": (
        ("Bikash", "Sunita", "Prakash", "Anjali", "Suman", "Sarita", "Rajesh", "Pooja", "Binod",
         "Asmita", "Dipesh", "Kabita"),
        ("Shrestha", "Gurung", "Thapa", "Adhikari", "Tamang", "Rai", "Karki", "Poudel", "Magar",
         "Bhattarai", "Sherpa", "Khadka"),
    ),
    "china": (
        ("Wei", "Li Na", "Xiaoming", "Mei", "Jun", "Yan", "Hao", "Lin", "Jing", "Tao", "Xin",
         "Yuting", "Chen Yu", "Fang"),
        ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu",
         "Sun", "Ma", "Zhu"),
    ),
    "japan": (
        ("Yuki", "Haruto", "Sakura", "Kenji", "Aoi", "Takumi", "Yui", "Ren", "Mei", "Hiroshi",
         "Naoko", "Daiki"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura",
         "Kobayashi", "Kato"),
    ),
    "korea": (
        ("Min-jun", "Seo-yeon", "Ji-ho", "Ha-eun", "Do-yun", "Ji-woo", "Hyun-woo", "Soo-ah",
         "Ye-jin", "Sung-min"),
        ("Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim"),
    ),
    "malay_indonesian": (
        ("Putri", "Budi", "Siti", "Agus", "Dewi", "Rizky", "Nurul", "Intan", "Hafiz", "Ayu",
         "Fajar", "Aisyah", "Farid", "Wulan", "Amir", "Nadia"),
        ("Santoso", "Wijaya", "Rahman", "Pratama", "Hidayat", "Abdullah", "Lestari", "Ismail",
         "Saputra", "Tan", "Kusuma", "Hakim", "Yusof", "Setiawan", "Hassan", "Lim"),
    ),
    "filipino": (
        ("Maria", "Jose", "Angelica", "Paolo", "Kristine", "Miguel", "Camille", "Rafael", "Joy",
         "Mark", "Bea", "Carlo", "Patricia", "Jerome"),
        ("Santos", "Reyes", "Cruz", "Bautista", "Garcia", "Mendoza", "Del Rosario",
         "Villanueva", "Ramos", "Aquino", "Castillo", "Dela Cruz", "Navarro", "Torres"),
    ),
    "vietnam": (
        ("Linh", "Minh", "Trang", "Huy", "Thu", "Duc", "Lan", "Quang", "Mai", "Tuan", "Ngoc",
         "Hieu"),
        ("Nguyen", "Tran", "Le", "Pham", "Hoang", "Vu", "Dang", "Bui", "Do", "Ngo", "Phan",
         "Vo"),
    ),
    "thai": (
        ("Somchai", "Nattaya", "Kittipong", "Siriporn", "Anong", "Prasert", "Ploy", "Chaiya",
         "Pimchanok", "Thanawat"),
        ("Srisuk", "Wongsa", "Chaiyaporn", "Saetang", "Boonmee", "Phongsri", "Rattanakorn",
         "Thongchai", "Sukprasert", "Jaidee"),
    ),
    "singapore": (
        ("Wei Ling", "Jun Jie", "Siti", "Arun", "Hui Min", "Daniel", "Nur", "Rajesh", "Shu Fen",
         "Marcus", "Farhana", "Kavitha"),
        ("Tan", "Lim", "Lee", "Ng", "Wong", "Rahman", "Krishnan", "Goh", "Chua", "Teo",
         "Ismail", "Raj"),
    ),
    "latin_american": (
        ("Valentina", "Santiago", "Camila", "Mateo", "Lucía", "Diego", "Daniela", "Sebastián",
         "Mariana", "Alejandro", "Sofía", "Andrés", "Gabriela", "Carlos", "Isabella",
         "Juan Pablo", "Paula", "Felipe", "Ximena", "Javier", "Rosa", "Luis"),
        ("García", "Rodríguez", "Martínez", "López", "Hernández", "González", "Pérez",
         "Sánchez", "Ramírez", "Torres", "Flores", "Rivera", "Gómez", "Díaz", "Vargas",
         "Castillo", "Morales", "Rojas", "Quispe", "Mamani", "Herrera", "Cruz"),
    ),
    "brazilian": (
        ("Ana", "João", "Beatriz", "Lucas", "Larissa", "Gabriel", "Juliana", "Rafael",
         "Fernanda", "Thiago", "Mariana", "Pedro", "Camila", "Bruno", "Letícia", "Caio",
         "Renata", "Gustavo"),
        ("Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa", "Rodrigues", "Almeida",
         "Nascimento", "Lima", "Araújo", "Ferreira", "Carvalho", "Gomes", "Ribeiro", "Barbosa"),
    ),
    "caribbean": (
        ("Shanice", "Andre", "Tamika", "Damion", "Kemar", "Shauna", "Odane", "Keisha",
         "Jermaine", "Tashana"),
        ("Campbell", "Brown", "Williams", "Thompson", "Francis", "Grant", "Morgan", "Reid",
         "Bailey", "Henry"),
    ),
    "haitian": (
        ("Jean", "Marie", "Pierre", "Widline", "Stevenson", "Fabiola", "Roseline", "Wilner",
         "Nadège", "Jovenel"),
        ("Joseph", "Pierre", "Jean-Baptiste", "Louis", "Charles", "Étienne", "Desir", "Augustin",
         "Célestin", "Michel"),
    ),
    "anglo": (
        ("Emily", "James", "Olivia", "Michael", "Sarah", "Daniel", "Hannah", "David", "Jessica",
         "Ryan", "Laura", "Chris", "Megan", "Tom", "Rachel", "Alex", "Aaliyah", "Jamal", "Sean",
         "Niamh", "Priya", "Mateo"),
        ("Smith", "Johnson", "Brown", "Williams", "Taylor", "Wilson", "Campbell", "O'Connor",
         "Murphy", "Nguyen", "Patel", "Thompson", "Walker", "Robinson", "Clarke", "Hughes",
         "Kelly", "Lewis", "Martin", "Scott", "Okoro", "Chen"),
    ),
    "french": (
        ("Camille", "Louis", "Chloé", "Hugo", "Manon", "Julien", "Léa", "Antoine", "Claire",
         "Thomas", "Inès", "Mathieu", "Élodie", "Karim"),
        ("Martin", "Bernard", "Dubois", "Laurent", "Moreau", "Lefèvre", "Girard", "Roux",
         "Fontaine", "Mercier", "Blanc", "Rousseau", "Benoît", "Haddad"),
    ),
    "german": (
        ("Lukas", "Anna", "Felix", "Lea", "Jonas", "Marie", "Maximilian", "Sophie", "Paul",
         "Laura", "Tobias", "Katharina", "Elif", "Niklas"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
         "Hoffmann", "Keller", "Schulz", "Koch", "Yilmaz", "Brunner"),
    ),
    "dutch": (
        ("Daan", "Sanne", "Bram", "Femke", "Jeroen", "Lotte", "Sem", "Anouk", "Thijs", "Iris"),
        ("de Vries", "Jansen", "van Dijk", "Bakker", "Visser", "Smit", "de Boer", "Mulder",
         "Bos", "Meijer"),
    ),
    "italian": (
        ("Giulia", "Marco", "Francesca", "Luca", "Chiara", "Alessandro", "Sara", "Matteo",
         "Elena", "Davide"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
         "Marino", "Greco"),
    ),
    "spanish": (
        ("Lucía", "Pablo", "María", "Javier", "Carmen", "Álvaro", "Marta", "Sergio", "Laia",
         "Jordi"),
        ("García", "Fernández", "González", "Martín", "Ruiz", "Jiménez", "Moreno", "Navarro",
         "Puig", "Ortega"),
    ),
    "portuguese": (
        ("Inês", "Tiago", "Beatriz", "Duarte", "Mariana", "Rui", "Catarina", "Miguel"),
        ("Silva", "Santos", "Ferreira", "Pereira", "Costa", "Martins", "Sousa", "Rodrigues"),
    ),
    "nordic": (
        ("Erik", "Astrid", "Lars", "Ingrid", "Mikko", "Aino", "Johan", "Freja", "Oskar", "Elin",
         "Emilia", "Ville"),
        ("Andersson", "Johansson", "Nielsen", "Hansen", "Virtanen", "Korhonen", "Larsen",
         "Lindqvist", "Berg", "Nyström", "Mäkinen", "Lindberg"),
    ),
    "eastern_european": (
        ("Katarzyna", "Piotr", "Olena", "Andrii", "Ioana", "Mihai", "Agnieszka", "Dmytro",
         "Elena", "Tomasz", "Oksana", "Bogdan"),
        ("Nowak", "Popescu", "Shevchenko", "Ionescu", "Kovalenko", "Bondarenko", "Dumitru",
         "Stan", "Lis", "Kaczmarek", "Melnyk", "Wójcik"),
    ),
    "pacific": (
        ("Sione", "Mere", "Tevita", "Losana", "Aroha", "Wiremu", "Ana", "Semisi", "Talia",
         "Manaia", "Kila", "Mele"),
        ("Tupou", "Ngata", "Waqa", "Fifita", "Taufa", "Rangi", "Kumar", "Leota", "Fonoti",
         "Vakaloloma", "Tuilagi", "Kauage"),
    ),
}

# --------------------------------------------------------------------------------------------
# Countries: where members live, which names and languages are plausible there, which cities
# host Young AI Leaders hubs, and which universities they study and work at. Weights make the
# community global south heavy (Africa, Asia and Latin America first).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Country:
    code: str
    name: str
    region: str
    subregion: str
    weight: float
    pools: tuple[str, ...]
    languages: tuple[str, ...]  # ISO 639-1, the most widely used first
    cities: tuple[str, ...]  # biggest tech community first
    universities: tuple[str, ...]

    @property
    def place(self) -> str:
        """The name as it reads after "in" ("in the Philippines")."""
        return f"the {self.name}" if self.code in _NEEDS_ARTICLE else self.name


_NEEDS_ARTICLE = frozenset({"PH", "US", "GB", "NL", "CD", "AE"})

_AF, _AM, _AS, _EU, _OC = "Africa", "Americas", "Asia", "Europe", "Oceania"

COUNTRIES: tuple[_Country, ...] = (
    # Africa
    _Country("KE", "Kenya", _AF, "East Africa", 5, ("east_africa",), ("en", "sw"),
             ("Nairobi", "Mombasa", "Kisumu", "Eldoret"),
             ("University of Nairobi", "Strathmore University", "Kenyatta University")),
    _Country("NG", "Nigeria", _AF, "West Africa", 6, ("west_africa",), ("en", "yo", "ha", "ig"),
             ("Lagos", "Abuja", "Ibadan", "Kano", "Enugu"),
             ("University of Lagos", "University of Ibadan", "Ahmadu Bello University")),
    _Country("GH", "Ghana", _AF, "West Africa", 4, ("west_africa",), ("en", "ak"),
             ("Accra", "Kumasi", "Tamale", "Cape Coast"),
             ("University of Ghana", "Kwame Nkrumah University of Science and Technology",
              "Ashesi University")),
    _Country("ZA", "South Africa", _AF, "Southern Africa", 4, ("southern_africa",),
             ("en", "zu", "xh", "af"), ("Johannesburg", "Cape Town", "Durban", "Pretoria"),
             ("University of Cape Town", "University of the Witwatersrand",
              "Stellenbosch University", "University of Pretoria")),
    _Country("UG", "Uganda", _AF, "East Africa", 3, ("east_africa",), ("en", "lg", "sw"),
             ("Kampala", "Gulu", "Mbarara"),
             ("Makerere University", "Mbarara University of Science and Technology")),
    _Country("RW", "Rwanda", _AF, "East Africa", 3, ("east_africa",), ("rw", "en", "fr"),
             ("Kigali", "Huye", "Musanze"),
             ("University of Rwanda", "Carnegie Mellon University Africa",
              "African Institute for Mathematical Sciences")),
    _Country("TZ", "Tanzania", _AF, "East Africa", 2, ("east_africa",), ("sw", "en"),
             ("Dar es Salaam", "Arusha", "Dodoma", "Mwanza"),
             ("University of Dar es Salaam",
              "Nelson Mandela African Institution of Science and Technology")),
    _Country("ET", "Ethiopia", _AF, "East Africa", 3, ("ethiopia",), ("am", "om", "en"),
             ("Addis Ababa", "Bahir Dar", "Hawassa", "Mekelle"),
             ("Addis Ababa University", "Bahir Dar University")),
    _Country("SN", "Senegal", _AF, "West Africa", 2, ("francophone_africa",), ("fr", "wo"),
             ("Dakar", "Saint-Louis", "Thiès"),
             ("Université Cheikh Anta Diop", "Université Gaston Berger")),
    _Country("CI", "Côte d'Ivoire", _AF, "West Africa", 2, ("francophone_africa",), ("fr",),
             ("Abidjan", "Yamoussoukro", "Bouaké"),
             ("Université Félix Houphouët-Boigny",
              "Institut National Polytechnique Félix Houphouët-Boigny")),
    _Country("CM", "Cameroon", _AF, "Central Africa", 2, ("francophone_africa",), ("fr", "en"),
             ("Yaoundé", "Douala", "Buea"), ("Université de Yaoundé I", "University of Buea")),
    _Country("CD", "Democratic Republic of the Congo", _AF, "Central Africa", 1,
             ("francophone_africa",), ("fr", "ln", "sw"), ("Kinshasa", "Lubumbashi", "Goma"),
             ("Université de Kinshasa", "Université de Lubumbashi")),
    _Country("BJ", "Benin", _AF, "West Africa", 1, ("francophone_africa",), ("fr", "yo"),
             ("Cotonou", "Porto-Novo"), ("Université d'Abomey-Calavi",)),
    _Country("ZW", "Zimbabwe", _AF, "Southern Africa", 2, ("southern_africa",),
             ("en", "sn", "nd"), ("Harare", "Bulawayo"),
             ("University of Zimbabwe", "National University of Science and Technology")),
    _Country("ZM", "Zambia", _AF, "Southern Africa", 1, ("southern_africa",), ("en", "ny"),
             ("Lusaka", "Ndola"), ("University of Zambia",)),
    _Country("MW", "Malawi", _AF, "Southern Africa", 1, ("southern_africa",), ("en", "ny"),
             ("Lilongwe", "Blantyre"), ("University of Malawi",)),
    _Country("BW", "Botswana", _AF, "Southern Africa", 1, ("southern_africa",), ("en", "tn"),
             ("Gaborone", "Francistown"), ("University of Botswana",)),
    _Country("EG", "Egypt", _AF, "North Africa", 3, ("arabic",), ("ar", "en"),
             ("Cairo", "Alexandria", "Giza"),
             ("Cairo University", "American University in Cairo", "Alexandria University")),
    _Country("MA", "Morocco", _AF, "North Africa", 2, ("arabic",), ("ar", "fr"),
             ("Casablanca", "Rabat", "Marrakesh"),
             ("Mohammed VI Polytechnic University", "Université Mohammed V de Rabat",
              "Al Akhawayn University")),
    _Country("TN", "Tunisia", _AF, "North Africa", 2, ("arabic",), ("ar", "fr"),
             ("Tunis", "Sfax", "Sousse"), ("Université de Tunis El Manar", "Université de Sfax")),
    # Asia
    _Country("IN", "India", _AS, "South Asia", 8, ("india",),
             ("en", "hi", "ta", "te", "bn", "mr", "kn"),
             ("Bengaluru", "Mumbai", "Delhi", "Chennai", "Hyderabad", "Pune", "Kolkata"),
             ("Indian Institute of Technology Madras", "Indian Institute of Science",
              "Indian Institute of Technology Bombay", "IIIT Hyderabad")),
    _Country("PK", "Pakistan", _AS, "South Asia", 3, ("pakistan_bangladesh",),
             ("ur", "en", "pa"), ("Karachi", "Lahore", "Islamabad", "Peshawar"),
             ("Lahore University of Management Sciences",
              "National University of Sciences and Technology")),
    _Country("BD", "Bangladesh", _AS, "South Asia", 3, ("pakistan_bangladesh",), ("bn", "en"),
             ("Dhaka", "Chittagong", "Sylhet"),
             ("Bangladesh University of Engineering and Technology", "University of Dhaka",
              "BRAC University")),
    _Country("LK", "Sri Lanka", _AS, "South Asia", 1, ("sri_lanka",), ("si", "ta", "en"),
             ("Colombo", "Kandy", "Galle"), ("University of Moratuwa", "University of Colombo")),
    _Country("NP", "Nepal", _AS, "South Asia", 1, ("nepal",), ("ne", "en"),
             ("Kathmandu", "Pokhara", "Lalitpur"),
             ("Tribhuvan University", "Kathmandu University")),
    _Country("CN", "China", _AS, "East Asia", 3, ("china",), ("zh", "en"),
             ("Beijing", "Shanghai", "Shenzhen", "Hangzhou"),
             ("Tsinghua University", "Peking University", "Zhejiang University")),
    _Country("JP", "Japan", _AS, "East Asia", 1.5, ("japan",), ("ja", "en"),
             ("Tokyo", "Osaka", "Kyoto"), ("University of Tokyo", "Kyoto University")),
    _Country("KR", "South Korea", _AS, "East Asia", 1.5, ("korea",), ("ko", "en"),
             ("Seoul", "Daejeon", "Busan"), ("KAIST", "Seoul National University")),
    _Country("ID", "Indonesia", _AS, "Southeast Asia", 3, ("malay_indonesian",),
             ("id", "en", "jv"), ("Jakarta", "Bandung", "Yogyakarta", "Surabaya"),
             ("Institut Teknologi Bandung", "Universitas Indonesia", "Universitas Gadjah Mada")),
    _Country("MY", "Malaysia", _AS, "Southeast Asia", 1.5, ("malay_indonesian", "singapore"),
             ("ms", "en", "zh", "ta"), ("Kuala Lumpur", "Penang", "Johor Bahru"),
             ("Universiti Malaya", "Universiti Teknologi Malaysia")),
    _Country("PH", "Philippines", _AS, "Southeast Asia", 3, ("filipino",), ("tl", "en"),
             ("Manila", "Quezon City", "Cebu", "Davao"),
             ("University of the Philippines Diliman", "Ateneo de Manila University",
              "De La Salle University")),
    _Country("VN", "Vietnam", _AS, "Southeast Asia", 2, ("vietnam",), ("vi", "en"),
             ("Hanoi", "Ho Chi Minh City", "Da Nang"),
             ("Vietnam National University", "Hanoi University of Science and Technology")),
    _Country("TH", "Thailand", _AS, "Southeast Asia", 1.5, ("thai",), ("th", "en"),
             ("Bangkok", "Chiang Mai", "Khon Kaen"),
             ("Chulalongkorn University", "Mahidol University")),
    _Country("SG", "Singapore", _AS, "Southeast Asia", 1, ("singapore",),
             ("en", "zh", "ms", "ta"), ("Singapore",),
             ("National University of Singapore", "Nanyang Technological University")),
    _Country("AE", "United Arab Emirates", _AS, "the Middle East", 1, ("arabic",), ("ar", "en"),
             ("Dubai", "Abu Dhabi"),
             ("Mohamed bin Zayed University of Artificial Intelligence", "Khalifa University")),
    _Country("SA", "Saudi Arabia", _AS, "the Middle East", 1, ("arabic",), ("ar", "en"),
             ("Riyadh", "Jeddah", "Thuwal"),
             ("King Abdullah University of Science and Technology", "King Saud University")),
    _Country("JO", "Jordan", _AS, "the Middle East", 1, ("arabic",), ("ar", "en"),
             ("Amman", "Irbid"),
             ("University of Jordan", "Princess Sumaya University for Technology")),
    _Country("LB", "Lebanon", _AS, "the Middle East", 0.7, ("arabic",), ("ar", "fr", "en"),
             ("Beirut", "Tripoli"), ("American University of Beirut",)),
    _Country("TR", "Türkiye", _AS, "the Middle East", 1.5, ("turkish",), ("tr", "en"),
             ("Istanbul", "Ankara", "Izmir"),
             ("Middle East Technical University", "Boğaziçi University")),
    # Americas
    _Country("BR", "Brazil", _AM, "Latin America", 5, ("brazilian",), ("pt", "en", "es"),
             ("São Paulo", "Rio de Janeiro", "Belo Horizonte", "Recife", "Porto Alegre"),
             ("Universidade de São Paulo", "Universidade Estadual de Campinas",
              "Universidade Federal de Minas Gerais")),
    _Country("MX", "Mexico", _AM, "Latin America", 4, ("latin_american",), ("es", "en"),
             ("Mexico City", "Guadalajara", "Monterrey", "Puebla"),
             ("Universidad Nacional Autónoma de México", "Tecnológico de Monterrey")),
    _Country("CO", "Colombia", _AM, "Latin America", 3, ("latin_american",), ("es", "en"),
             ("Bogotá", "Medellín", "Cali", "Barranquilla"),
             ("Universidad de los Andes", "Universidad Nacional de Colombia")),
    _Country("AR", "Argentina", _AM, "Latin America", 2, ("latin_american",), ("es", "en"),
             ("Buenos Aires", "Córdoba", "Rosario"),
             ("Universidad de Buenos Aires", "Instituto Tecnológico de Buenos Aires")),
    _Country("CL", "Chile", _AM, "Latin America", 2, ("latin_american",), ("es", "en"),
             ("Santiago", "Valparaíso", "Concepción"),
             ("Pontificia Universidad Católica de Chile", "Universidad de Chile")),
    _Country("PE", "Peru", _AM, "Latin America", 2, ("latin_american",), ("es", "qu", "en"),
             ("Lima", "Arequipa", "Cusco"),
             ("Pontificia Universidad Católica del Perú", "Universidad Nacional de Ingeniería")),
    _Country("EC", "Ecuador", _AM, "Latin America", 1, ("latin_american",), ("es", "qu"),
             ("Quito", "Guayaquil", "Cuenca"),
             ("Escuela Politécnica Nacional", "Universidad San Francisco de Quito")),
    _Country("BO", "Bolivia", _AM, "Latin America", 1, ("latin_american",), ("es", "qu", "ay"),
             ("La Paz", "Santa Cruz", "Cochabamba"), ("Universidad Mayor de San Andrés",)),
    _Country("GT", "Guatemala", _AM, "Latin America", 1, ("latin_american",), ("es",),
             ("Guatemala City", "Quetzaltenango"), ("Universidad de San Carlos de Guatemala",)),
    _Country("CR", "Costa Rica", _AM, "Latin America", 1, ("latin_american",), ("es", "en"),
             ("San José", "Heredia"), ("Universidad de Costa Rica",)),
    _Country("UY", "Uruguay", _AM, "Latin America", 0.7, ("latin_american",), ("es",),
             ("Montevideo",), ("Universidad de la República",)),
    _Country("JM", "Jamaica", _AM, "the Caribbean", 0.8, ("caribbean",), ("en",),
             ("Kingston", "Montego Bay"), ("University of the West Indies",)),
    _Country("HT", "Haiti", _AM, "the Caribbean", 0.7, ("haitian",), ("ht", "fr"),
             ("Port-au-Prince", "Cap-Haïtien"), ("Université d'État d'Haïti",)),
    _Country("US", "United States", _AM, "North America", 4, ("anglo", "latin_american"),
             ("en", "es"),
             ("New York", "San Francisco", "Boston", "Seattle", "Atlanta", "Pittsburgh"),
             ("Carnegie Mellon University", "Stanford University",
              "Massachusetts Institute of Technology", "University of Washington")),
    _Country("CA", "Canada", _AM, "North America", 2, ("anglo", "french"), ("en", "fr"),
             ("Toronto", "Montreal", "Vancouver", "Ottawa"),
             ("University of Toronto", "McGill University", "Université de Montréal")),
    # Europe
    _Country("GB", "United Kingdom", _EU, "Europe", 2.5, ("anglo",), ("en",),
             ("London", "Cambridge", "Oxford", "Edinburgh", "Manchester"),
             ("University of Oxford", "University College London", "University of Edinburgh")),
    _Country("IE", "Ireland", _EU, "Europe", 0.5, ("anglo",), ("en", "ga"), ("Dublin", "Cork"),
             ("Trinity College Dublin", "University College Cork")),
    _Country("FR", "France", _EU, "Europe", 2, ("french",), ("fr", "en"),
             ("Paris", "Lyon", "Toulouse", "Grenoble"),
             ("Sorbonne Université", "Université Paris-Saclay", "Université Grenoble Alpes")),
    _Country("DE", "Germany", _EU, "Europe", 2, ("german",), ("de", "en"),
             ("Berlin", "Munich", "Hamburg", "Tübingen"),
             ("Technical University of Munich", "University of Tübingen",
              "Humboldt University of Berlin")),
    _Country("CH", "Switzerland", _EU, "Europe", 2, ("french", "german"),
             ("fr", "de", "en", "it"), ("Geneva", "Zurich", "Lausanne", "Bern"),
             ("EPFL", "ETH Zurich", "University of Geneva")),
    _Country("NL", "Netherlands", _EU, "Europe", 1, ("dutch",), ("nl", "en"),
             ("Amsterdam", "Delft", "Utrecht", "Eindhoven"),
             ("Delft University of Technology", "University of Amsterdam")),
    _Country("IT", "Italy", _EU, "Europe", 1, ("italian",), ("it", "en"),
             ("Rome", "Milan", "Turin", "Bologna"),
             ("Politecnico di Milano", "Sapienza University of Rome")),
    _Country("ES", "Spain", _EU, "Europe", 1, ("spanish",), ("es", "ca", "en"),
             ("Madrid", "Barcelona", "Valencia", "Seville"),
             ("Universidad Politécnica de Madrid", "Universitat Pompeu Fabra")),
    _Country("PT", "Portugal", _EU, "Europe", 0.5, ("portuguese",), ("pt", "en"),
             ("Lisbon", "Porto"), ("University of Lisbon", "University of Porto")),
    _Country("SE", "Sweden", _EU, "Europe", 0.7, ("nordic",), ("sv", "en"),
             ("Stockholm", "Gothenburg"),
             ("KTH Royal Institute of Technology", "Chalmers University of Technology")),
    _Country("FI", "Finland", _EU, "Europe", 0.5, ("nordic",), ("fi", "sv", "en"),
             ("Helsinki", "Espoo"), ("Aalto University", "University of Helsinki")),
    _Country("PL", "Poland", _EU, "Europe", 0.7, ("eastern_european",), ("pl", "en"),
             ("Warsaw", "Kraków", "Wrocław"),
             ("University of Warsaw", "AGH University of Krakow")),
    _Country("RO", "Romania", _EU, "Europe", 0.5, ("eastern_european",), ("ro", "en"),
             ("Bucharest", "Cluj-Napoca"),
             ("National University of Science and Technology Politehnica Bucharest",
              "Babeș-Bolyai University")),
    _Country("UA", "Ukraine", _EU, "Europe", 0.7, ("eastern_european",), ("uk", "en"),
             ("Kyiv", "Lviv", "Kharkiv"),
             ("Igor Sikorsky Kyiv Polytechnic Institute", "Ukrainian Catholic University")),
    # Oceania
    _Country("AU", "Australia", _OC, "the Pacific", 1.5, ("anglo",), ("en",),
             ("Sydney", "Melbourne", "Brisbane", "Perth"),
             ("University of Melbourne", "Australian National University",
              "University of Sydney")),
    _Country("NZ", "New Zealand", _OC, "the Pacific", 0.7, ("anglo", "pacific"), ("en", "mi"),
             ("Auckland", "Wellington", "Christchurch"),
             ("University of Auckland", "Victoria University of Wellington")),
    _Country("FJ", "Fiji", _OC, "the Pacific", 0.6, ("pacific",), ("en", "fj", "hi"),
             ("Suva", "Nadi", "Lautoka"),
             ("University of the South Pacific", "Fiji National University")),
    _Country("PG", "Papua New Guinea", _OC, "the Pacific", 0.4, ("pacific",), ("en",),
             ("Port Moresby", "Lae"),
             ("University of Papua New Guinea", "PNG University of Technology")),
    _Country("WS", "Samoa", _OC, "the Pacific", 0.3, ("pacific",), ("sm", "en"), ("Apia",),
             ("National University of Samoa",)),
)

# --------------------------------------------------------------------------------------------
# Domains: the AI-for-good vocabulary. Topic tags belong to exactly one domain and drive the
# member's SDGs; methods are shared; problems and data give offers and seeks specific wording.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Domain:
    """One application area, with the SDGs it serves (most characteristic first)."""

    key: str
    label: str
    weight: float
    sdgs: tuple[int, ...]
    topics: tuple[str, ...]
    methods: tuple[str, ...]
    problems: tuple[str, ...]
    data: tuple[str, ...]
    stakeholders: tuple[str, ...]
    cause: str
    public_bodies: tuple[str, ...]  # "{country}" and "{city}" are filled in
    un_agencies: tuple[str, ...]
    startup_stems: tuple[str, ...]


DOMAINS: tuple[Domain, ...] = (
    Domain(
        key="agriculture", label="agriculture and food security", weight=1.3, sdgs=(2, 13, 15, 1),
        topics=("agriculture", "food security", "precision agriculture", "crop disease detection",
                "smallholder farming", "agricultural extension"),
        methods=("computer vision", "remote sensing", "time-series forecasting", "edge AI",
                 "speech recognition", "geospatial analysis"),
        problems=("crop disease detection on low-cost phones",
                  "yield forecasting for smallholder farms",
                  "pest and locust outbreak early warning",
                  "soil health mapping from satellite imagery",
                  "voice advisory services for farmers in local languages"),
        data=("labelled field images of cassava and maize disease",
              "farm-level yield and weather records",
              "ground-truth plots for crop-type mapping",
              "call logs from farmer advisory hotlines"),
        stakeholders=("smallholder farmers", "agricultural extension officers",
                      "farmer cooperatives"),
        cause="Food Security",
        public_bodies=("Ministry of Agriculture, {country}",
                       "National Agricultural Research Institute, {country}"),
        un_agencies=("FAO", "WFP", "IFAD"),
        startup_stems=("Shamba", "Mavuno", "AgroSense", "FarmWise", "Kilimo", "Harvest"),
    ),
    Domain(
        key="health", label="health", weight=1.3, sdgs=(3, 10, 5),
        topics=("global health", "maternal health", "medical imaging", "disease surveillance",
                "mental health", "community health"),
        methods=("computer vision", "NLP", "federated learning", "causal inference",
                 "speech recognition", "LLM evaluation", "survival analysis"),
        problems=("tuberculosis screening from chest X-rays",
                  "malaria outbreak forecasting",
                  "triage chatbots for community health workers",
                  "maternal risk prediction in antenatal care",
                  "clinical note summarisation in low-resource languages"),
        data=("de-identified chest X-ray datasets",
              "district health information system (DHIS2) records",
              "community health worker visit logs",
              "anonymised antenatal care records"),
        stakeholders=("community health workers", "district health teams", "clinicians"),
        cause="Community Health",
        public_bodies=("Ministry of Health, {country}",
                       "National Public Health Institute, {country}"),
        un_agencies=("WHO", "UNICEF", "UNFPA"),
        startup_stems=("Afya", "Salud", "CareLens", "Vitalis", "MediScan", "Sante"),
    ),
    Domain(
        key="climate", label="climate and environment", weight=1.0, sdgs=(13, 7, 15, 11),
        topics=("climate change", "climate adaptation", "carbon accounting",
                "weather forecasting", "climate risk"),
        methods=("remote sensing", "time-series forecasting", "physics-informed machine learning",
                 "geospatial analysis", "causal inference", "MLOps"),
        problems=("downscaling climate projections for local adaptation planning",
                  "flood and drought risk mapping",
                  "emissions monitoring from satellite data",
                  "seasonal rainfall forecasting",
                  "heat-risk early warning for cities"),
        data=("station rainfall and temperature records",
              "high-resolution satellite imagery archives",
              "local flood extent observations",
              "facility-level emissions inventories"),
        stakeholders=("national meteorological services", "local governments",
                      "climate-vulnerable communities"),
        cause="Climate Action",
        public_bodies=("Ministry of Environment and Climate Change, {country}",
                       "National Meteorological Agency, {country}"),
        un_agencies=("UNEP", "WMO", "UNDP", "UNFCCC"),
        startup_stems=("Terra", "ClimaSense", "Nimbus", "Carbonlens", "Hali"),
    ),
    Domain(
        key="education", label="education", weight=1.1, sdgs=(4, 10, 5, 8),
        topics=("education", "edtech", "adaptive learning", "literacy", "teacher support"),
        methods=("NLP", "LLM evaluation", "speech recognition", "recommender systems",
                 "learning analytics"),
        problems=("adaptive maths tutoring on basic phones",
                  "automated reading assessment in local languages",
                  "AI teaching assistants for overcrowded classrooms",
                  "early warning of school dropout",
                  "curriculum-aligned content generation"),
        data=("anonymised learner interaction logs",
              "read-aloud audio recordings from primary schools",
              "national exam results by school",
              "curriculum documents in local languages"),
        stakeholders=("teachers", "primary school learners", "school districts"),
        cause="Learning",
        public_bodies=("Ministry of Education, {country}",
                       "National Curriculum Development Centre, {country}"),
        un_agencies=("UNESCO", "UNICEF"),
        startup_stems=("Elimu", "Soma", "Aprende", "Shule", "Vidya", "Tutora"),
    ),
    Domain(
        key="disaster", label="disaster response and humanitarian action", weight=0.7,
        sdgs=(11, 13, 1, 3),
        topics=("disaster response", "early warning systems", "humanitarian data",
                "crisis mapping"),
        methods=("remote sensing", "computer vision", "NLP", "graph neural networks",
                 "geospatial analysis", "time-series forecasting"),
        problems=("building damage assessment from aerial imagery after earthquakes",
                  "flood early warning for river basins",
                  "crisis message classification for rapid needs assessment",
                  "displacement forecasting for humanitarian planning",
                  "cyclone impact prediction"),
        data=("pre- and post-disaster drone imagery", "river gauge records",
              "needs-assessment survey data", "geo-tagged crisis reports"),
        stakeholders=("first responders", "humanitarian coordinators",
                      "civil protection agencies"),
        cause="Resilience",
        public_bodies=("National Disaster Management Authority, {country}",
                       "Civil Protection Directorate, {country}"),
        un_agencies=("OCHA", "WFP", "UNHCR", "UNDRR"),
        startup_stems=("Alerta", "Resilio", "SafeGround", "Rescue", "Tahadhari"),
    ),
    Domain(
        key="finance", label="financial inclusion", weight=0.9, sdgs=(1, 8, 10, 5),
        topics=("financial inclusion", "mobile money", "credit scoring", "microfinance",
                "fraud detection"),
        methods=("graph machine learning", "tabular machine learning", "causal inference", "NLP",
                 "explainable AI", "fairness auditing"),
        problems=("alternative credit scoring for thin-file borrowers",
                  "fraud detection in mobile money",
                  "explainable loan decisions for microfinance",
                  "cash-transfer targeting with mobile phone data",
                  "financial literacy chatbots"),
        data=("anonymised mobile money transaction logs", "microfinance repayment histories",
              "household survey data", "cash-transfer beneficiary registries"),
        stakeholders=("unbanked households", "microfinance institutions", "informal traders"),
        cause="Financial Inclusion",
        public_bodies=("Central Bank of {country}", "Ministry of Finance, {country}"),
        un_agencies=("UNCDF", "UNDP", "ILO"),
        startup_stems=("Pesa", "Akiba", "Credito", "Hisa", "Tontine", "Kora"),
    ),
    Domain(
        key="governance", label="AI governance and ethics", weight=0.8, sdgs=(16, 17, 10),
        topics=("AI governance", "AI ethics", "responsible AI", "data protection",
                "digital public infrastructure", "algorithmic accountability"),
        methods=("LLM evaluation", "fairness auditing", "data governance", "explainable AI",
                 "privacy-preserving machine learning", "red teaming"),
        problems=("auditing public-sector algorithms for bias",
                  "implementing national AI strategies",
                  "evaluating LLMs for harms in local languages",
                  "data-sharing agreements for health and agriculture data",
                  "AI incident reporting"),
        data=("public procurement records for AI systems",
              "multilingual harm-evaluation test sets",
              "national AI policy documents",
              "case studies of deployed public-sector AI"),
        stakeholders=("policymakers", "regulators", "civil society organisations"),
        cause="Digital Rights",
        public_bodies=("Ministry of ICT and Digital Economy, {country}",
                       "Data Protection Authority, {country}"),
        un_agencies=("ITU", "UNESCO", "UNDP", "OHCHR"),
        startup_stems=("Fairlens", "Civic", "Audita", "Trustworthy", "Haki"),
    ),
    Domain(
        key="energy", label="clean energy", weight=0.7, sdgs=(7, 13, 9),
        topics=("clean energy", "energy access", "mini-grids", "smart grids", "solar energy"),
        methods=("time-series forecasting", "reinforcement learning", "optimisation", "edge AI",
                 "anomaly detection", "remote sensing"),
        problems=("solar output forecasting for rural mini-grids",
                  "demand prediction for pay-as-you-go solar",
                  "predictive maintenance for off-grid systems",
                  "electrification planning with satellite imagery",
                  "grid balancing with renewables"),
        data=("smart-meter readings from mini-grids", "pay-as-you-go solar repayment data",
              "night-time lights imagery", "inverter telemetry"),
        stakeholders=("mini-grid operators", "rural households", "utilities"),
        cause="Clean Energy",
        public_bodies=("Ministry of Energy, {country}",
                       "Rural Electrification Agency, {country}"),
        un_agencies=("UNDP", "UNIDO", "UNEP"),
        startup_stems=("Jua", "Solis", "Volta", "Nishati", "Lumen"),
    ),
    Domain(
        key="water", label="water and sanitation", weight=0.6, sdgs=(6, 3, 13),
        topics=("water and sanitation", "water resources", "WASH", "groundwater"),
        methods=("remote sensing", "time-series forecasting", "anomaly detection", "IoT sensing",
                 "geospatial analysis", "edge AI"),
        problems=("predicting hand-pump failures",
                  "water quality monitoring with low-cost sensors",
                  "groundwater mapping from satellite data",
                  "leak detection in urban water networks",
                  "sanitation coverage mapping"),
        data=("hand-pump sensor data", "water quality test records", "borehole logs",
              "utility billing and pressure data"),
        stakeholders=("water utilities", "rural water committees", "WASH programmes"),
        cause="Water",
        public_bodies=("Ministry of Water and Sanitation, {country}",
                       "National Water Resources Authority, {country}"),
        un_agencies=("UNICEF", "UN-Habitat", "UNEP"),
        startup_stems=("Maji", "Agua", "Aqua", "Pani", "Blueflow"),
    ),
    Domain(
        key="cities", label="cities and mobility", weight=0.7, sdgs=(11, 9, 3),
        topics=("smart cities", "urban mobility", "transport planning", "informal settlements",
                "road safety"),
        methods=("computer vision", "geospatial analysis", "graph neural networks",
                 "reinforcement learning", "time-series forecasting", "simulation"),
        problems=("mapping informal transit routes from GPS traces",
                  "traffic-crash hotspot prediction",
                  "informal settlement mapping from satellite imagery",
                  "air-quality forecasting for cities",
                  "demand-responsive public transport"),
        data=("GPS traces from minibus taxis", "road crash records", "street-level imagery",
              "low-cost air-quality sensor networks"),
        stakeholders=("city planners", "transport authorities",
                      "residents of informal settlements"),
        cause="Urban Futures",
        public_bodies=("{city} City Council", "Ministry of Transport, {country}"),
        un_agencies=("UN-Habitat", "UNDP"),
        startup_stems=("Movi", "Urbano", "CityLens", "Transitly", "Njia"),
    ),
    Domain(
        key="accessibility", label="accessibility and disability inclusion", weight=0.5,
        sdgs=(10, 4, 8),
        topics=("accessibility", "assistive technology", "disability inclusion",
                "sign language"),
        methods=("speech recognition", "computer vision", "NLP", "text-to-speech", "edge AI",
                 "human-centred design"),
        problems=("sign language recognition for local sign languages",
                  "screen readers and text-to-speech for under-served languages",
                  "navigation aids for blind and low-vision people",
                  "captioning for deaf learners",
                  "accessible AI interfaces for low-literacy users"),
        data=("annotated sign language video corpora",
              "speech recordings in low-resource languages",
              "accessibility audit results",
              "user studies with people with disabilities"),
        stakeholders=("organisations of persons with disabilities",
                      "deaf and blind communities", "special needs teachers"),
        cause="Disability Inclusion",
        public_bodies=("National Council for Persons with Disabilities, {country}",),
        un_agencies=("ITU", "UNESCO", "WHO"),
        startup_stems=("Sauti", "Signa", "Ally", "Voz", "Echo"),
    ),
    Domain(
        key="gender", label="gender equality", weight=0.6, sdgs=(5, 10, 8, 16),
        topics=("gender equality", "women in AI", "gender-based violence", "gender data gaps"),
        methods=("NLP", "fairness auditing", "causal inference", "survey data science",
                 "LLM evaluation", "data governance"),
        problems=("detecting online gender-based violence in local languages",
                  "closing gender data gaps in official statistics",
                  "bias audits of hiring algorithms",
                  "safe-space chatbots for survivors",
                  "women's access to digital financial services"),
        data=("annotated online abuse datasets", "sex-disaggregated survey data",
              "anonymised helpline case records", "hiring outcomes data"),
        stakeholders=("women-led organisations", "survivor support services",
                      "girls in STEM programmes"),
        cause="Gender Equality",
        public_bodies=("Ministry of Gender and Social Affairs, {country}",),
        un_agencies=("UN Women", "UNFPA", "UNDP"),
        startup_stems=("Dada", "Equalis", "Her", "Femme", "Hadithi"),
    ),
    Domain(
        key="nature", label="oceans and biodiversity", weight=0.6, sdgs=(14, 15, 13),
        topics=("ocean conservation", "biodiversity", "marine ecosystems",
                "wildlife conservation", "deforestation"),
        methods=("computer vision", "bioacoustics", "remote sensing",
                 "species distribution modelling", "edge AI", "time-series forecasting"),
        problems=("illegal fishing detection from vessel tracking data",
                  "coral reef health monitoring from underwater imagery",
                  "camera-trap species identification",
                  "acoustic monitoring of endangered species",
                  "deforestation alerts from satellite imagery"),
        data=("annotated camera-trap images", "AIS vessel tracking data",
              "underwater reef survey imagery", "passive acoustic recordings"),
        stakeholders=("park rangers", "fishing communities", "conservation agencies"),
        cause="Conservation",
        public_bodies=("Ministry of Fisheries and Marine Resources, {country}",
                       "National Wildlife Service, {country}"),
        un_agencies=("UNEP", "FAO", "UNESCO"),
        startup_stems=("Bahari", "Coral", "WildEye", "Mar", "Msitu"),
    ),
    Domain(
        key="circular", label="circular economy and sustainable supply chains", weight=0.5,
        sdgs=(12, 9, 13, 8),
        topics=("circular economy", "waste management", "sustainable supply chains",
                "recycling"),
        methods=("computer vision", "optimisation", "operations research",
                 "time-series forecasting", "NLP", "life-cycle assessment"),
        problems=("waste sorting with computer vision for informal recyclers",
                  "food loss reduction in cold chains",
                  "supply-chain traceability for deforestation-free products",
                  "demand forecasting to cut retail waste",
                  "e-waste collection route optimisation"),
        data=("labelled waste-stream images", "cold-chain temperature logs",
              "supplier and shipment records", "municipal waste collection data"),
        stakeholders=("informal waste pickers", "small manufacturers",
                      "municipal waste services"),
        cause="Circular Economy",
        public_bodies=("Ministry of Trade and Industry, {country}",
                       "National Environment Management Authority, {country}"),
        un_agencies=("UNEP", "UNIDO"),
        startup_stems=("Taka", "Loop", "Cyclo", "Verde", "Rudi"),
    ),
    Domain(
        key="connectivity", label="connectivity and digital inclusion", weight=0.7,
        sdgs=(9, 17, 4),
        topics=("digital inclusion", "connectivity", "local-language AI", "digital skills"),
        methods=("NLP", "speech recognition", "edge AI", "model compression", "MLOps",
                 "geospatial analysis"),
        problems=("school connectivity mapping from satellite imagery",
                  "small language models for low-bandwidth devices",
                  "speech datasets for under-resourced languages",
                  "digital skills training at scale",
                  "network planning for rural coverage"),
        data=("school location and connectivity data", "crowd-sourced speech recordings",
              "mobile network coverage measurements",
              "parallel text corpora for local languages"),
        stakeholders=("rural schools", "telecom operators", "language communities"),
        cause="Digital Inclusion",
        public_bodies=("Ministry of ICT, {country}",
                       "Communications Regulatory Authority, {country}"),
        un_agencies=("ITU", "UNICEF", "UNDP"),
        startup_stems=("Lugha", "Linka", "Bridge", "Mtandao", "Kasi"),
    ),
)

GENERAL_INTERESTS: tuple[str, ...] = (
    "open source", "open data", "AI for Good", "citizen science", "low-resource languages",
    "research software", "community building", "science policy", "entrepreneurship",
    "indigenous knowledge", "data journalism", "public interest technology", "STEM outreach",
)

# --------------------------------------------------------------------------------------------
# Offers and seeks: one sentence template per kind. Slots shared by both sides ({method},
# {problem}, {data}, {topic}, {place}) are what make complementary members read alike.
# --------------------------------------------------------------------------------------------

OFFER_TEMPLATES: Mapping[Kind, tuple[str, ...]] = {
    Kind.MENTOR: (
        "Mentoring on {method} for {problem}",
        "Mentoring for early-career people applying {method} to {problem}",
        "Career and research mentoring in {topic}, especially {method} and {method2}",
        "Practical mentoring on taking {method} from prototype to deployment for {problem}",
    ),
    Kind.MENTEE: (
        "A committed mentee, learning {method} for {problem}",
        "Time and energy as a mentee: I am learning {method} and {method2} for {topic}",
    ),
    Kind.COLLABORATOR: (
        "Research collaboration on {problem} using {method}",
        "Technical collaboration on {topic}: {method} modelling, evaluation and open-source code",
        "Hands-on help with {method} and {method2} for projects on {problem}",
        "Co-authoring and joint grant proposals on {method} for {topic} in {place}",
    ),
    Kind.CO_FOUNDER: (
        "Technical co-founder skills in {method} to build products for {problem}",
        "Co-founder commitment: {method} engineering and product sense for {topic} in {place}",
    ),
    Kind.INVESTOR: (
        "Pre-seed and seed investment for startups applying AI to {topic} in {place}",
        "Impact investment (tickets of {ticket}) for ventures using {method} for {problem}",
        "Early-stage funding and an investor network for {topic} startups across {place}",
    ),
    Kind.SPEAKER: (
        "Talks and workshops on {method} for {topic}",
        "Keynotes on lessons from deploying AI for {problem} in {place}",
        "Guest lectures on {topic} and the responsible use of {method}",
    ),
    Kind.EMPLOYER: (
        "Hiring ML engineers with {method} experience to build tools for {problem}",
        "Open roles and paid internships in {method} for {topic} in {place}",
        "Jobs for data scientists who want to work on {problem}",
    ),
    Kind.JOB_SEEKER: (
        "Available for roles in {topic}, with hands-on experience in {method} and {method2}",
        "Ready to join a team working on {problem}, bringing {method} skills",
        "Open to full-time or internship roles applying {method} to {topic}",
    ),
    Kind.VOLUNTEER: (
        "Volunteer time for {topic} projects: data labelling, cleaning and {method} prototypes",
        "Pro bono {method} support for NGOs working on {problem}",
        "A few hours a week to help with {method} for {problem} in {place}",
    ),
    Kind.PARTNER: (
        "Partnership on {problem} in {place}, with access to {data}",
        "Institutional partnership on {topic} with {stakeholders} in {place}",
    ),
}

SEEK_TEMPLATES: Mapping[Kind, tuple[str, ...]] = {
    Kind.MENTOR: (
        "A mentor experienced in {method} for {problem}",
        "Mentoring on {method} to take my work on {problem} from prototype to deployment",
        "Guidance from someone senior in {topic}, especially {method}",
    ),
    Kind.MENTEE: (
        "Students and early-career people eager to learn {method} for {problem}",
        "Mentees interested in {topic} and {method}",
    ),
    Kind.COLLABORATOR: (
        "Collaborators with {method} expertise to work on {problem}",
        "Data scientists skilled in {method} and {method2} to help with {problem}",
        "Research collaborators on {topic} in {place}, ideally with {method} experience",
    ),
    Kind.CO_FOUNDER: (
        "A co-founder with {method} experience to build products for {problem}",
        "A business or technical co-founder for a venture in {topic} in {place}",
    ),
    Kind.INVESTOR: (
        "Seed investment for our startup using {method} for {problem} in {place}",
        "Pre-seed funding and investor introductions for our venture in {topic}",
    ),
    Kind.SPEAKER: (
        "Speakers on {method} for {topic} for events in {place}",
        "Experts to give talks on {problem} at our workshops",
    ),
    Kind.EMPLOYER: (
        "A role in a team working on {problem} with {method}",
        "An internship or junior role applying {method} to {topic}",
        "A job in {topic}, ideally using {method}, in {place} or remote",
    ),
    Kind.JOB_SEEKER: (
        "ML engineers and data scientists with {method} experience for {problem}",
        "Candidates with {method} skills to join our work on {topic}",
    ),
    Kind.VOLUNTEER: (
        "Volunteers with {method} skills to support {problem} in {place}",
        "Volunteer data scientists to help analyse {data}",
    ),
    Kind.PARTNER: (
        "Partners with {data} in {place}",
        "Field partners working with {stakeholders} to pilot {problem}",
        "Organisations holding {data} who want to co-design tools for {problem}",
    ),
}

TICKET_SIZES: tuple[str, ...] = ("$25k–$100k", "$50k–$250k", "$100k–$500k", "$250k–$1M")

# --------------------------------------------------------------------------------------------
# Personas: who members are. Each fixes organisation types, roles, the kinds offered and
# sought (with probabilities; 1.0 means always, so both sides are never empty), how likely
# they are to belong to a Young AI Leaders hub, and persona-specific wording.
# --------------------------------------------------------------------------------------------

_A, _I, _S = OrganisationType.ACADEMIA, OrganisationType.INDUSTRY, OrganisationType.STARTUP
_N, _G, _U = OrganisationType.NGO, OrganisationType.GOVERNMENT, OrganisationType.UN
_O = OrganisationType.OTHER


@dataclass(frozen=True, slots=True)
class _Persona:
    key: str
    weight: float
    org_types: tuple[tuple[OrganisationType, float], ...]
    roles: tuple[str, ...]
    offers: tuple[tuple[Kind, float], ...]
    seeks: tuple[tuple[Kind, float], ...]
    skills: tuple[str, ...]
    work_lines: tuple[str, ...]
    hub_rate: float
    years: tuple[int, int] = (2, 6)
    doctor_rate: float = 0.0
    offer_texts: Mapping[Kind, tuple[str, ...]] = field(default_factory=dict)
    seek_texts: Mapping[Kind, tuple[str, ...]] = field(default_factory=dict)


PERSONAS: tuple[_Persona, ...] = (
    _Persona(
        key="researcher", weight=0.13, org_types=((_A, 0.85), (_I, 0.15)),
        roles=("Professor", "Associate Professor", "Senior Lecturer", "Research Scientist",
               "Principal Investigator", "Senior Research Fellow"),
        offers=((Kind.MENTOR, 1.0), (Kind.COLLABORATOR, 0.7), (Kind.SPEAKER, 0.5)),
        seeks=((Kind.PARTNER, 1.0), (Kind.COLLABORATOR, 0.5), (Kind.MENTEE, 0.3),
               (Kind.JOB_SEEKER, 0.2)),
        skills=("research leadership", "grant writing", "peer review", "teaching"),
        work_lines=(
            "Over the past {years} years my group has published on {method} and {method2}, "
            "and we run field studies with {stakeholders} in {place}.",
            "My lab develops {method} methods for {topic}; we care about models that work "
            "with limited data and limited compute.",
            "I supervise graduate students working on {problem} and lead a research programme "
            "on {method} for {topic}.",
        ),
        hub_rate=0.1, years=(8, 25), doctor_rate=0.35,
    ),
    _Persona(
        key="student", weight=0.20, org_types=((_A, 1.0),),
        roles=("MSc student", "PhD candidate", "Undergraduate student", "Research assistant",
               "PhD student"),
        offers=((Kind.VOLUNTEER, 1.0), (Kind.COLLABORATOR, 0.6), (Kind.MENTEE, 0.5)),
        seeks=((Kind.MENTOR, 1.0), (Kind.COLLABORATOR, 0.3), (Kind.EMPLOYER, 0.35)),
        skills=("Python", "data analysis", "PyTorch", "research methods"),
        work_lines=(
            "My thesis looks at {method} for {problem}, and in my spare time I contribute to "
            "open-source tools for {topic}.",
            "I am learning {method} and {method2}, and I want to apply them to {problem} with "
            "{stakeholders} in {place}.",
            "Last year I built a small prototype for {problem} during a hackathon, and I would "
            "love to take it further.",
        ),
        hub_rate=0.65,
    ),
    _Persona(
        key="early_career", weight=0.12, org_types=((_I, 0.5), (_S, 0.3), (_N, 0.1), (_A, 0.1)),
        roles=("Junior data scientist", "Machine learning engineer", "Data analyst",
               "AI fellow", "Software engineer", "Research engineer"),
        offers=((Kind.COLLABORATOR, 1.0), (Kind.VOLUNTEER, 0.5), (Kind.JOB_SEEKER, 0.4),
                (Kind.CO_FOUNDER, 0.15), (Kind.MENTEE, 0.3)),
        seeks=((Kind.MENTOR, 1.0), (Kind.EMPLOYER, 0.4), (Kind.COLLABORATOR, 0.3),
               (Kind.CO_FOUNDER, 0.15)),
        skills=("Python", "PyTorch", "data engineering", "software engineering"),
        work_lines=(
            "I build and ship {method} models, and I am keen to apply them to {problem} with "
            "{stakeholders}.",
            "Day to day I work with {method} and {method2}; at weekends I volunteer on data "
            "projects about {topic}.",
        ),
        hub_rate=0.6, years=(1, 4),
    ),
    _Persona(
        key="practitioner", weight=0.13, org_types=((_I, 0.7), (_S, 0.15), (_O, 0.15)),
        roles=("Senior machine learning engineer", "Lead data scientist", "Head of AI",
               "AI consultant", "Principal engineer", "Data science manager"),
        offers=((Kind.MENTOR, 1.0), (Kind.COLLABORATOR, 0.6), (Kind.VOLUNTEER, 0.4),
                (Kind.SPEAKER, 0.3), (Kind.CO_FOUNDER, 0.1)),
        seeks=((Kind.COLLABORATOR, 1.0), (Kind.MENTEE, 0.4), (Kind.PARTNER, 0.3),
               (Kind.JOB_SEEKER, 0.2)),
        skills=("product management", "cloud architecture", "team leadership",
                "software engineering"),
        work_lines=(
            "I have {years} years of experience taking {method} systems from prototype to "
            "production, most recently for {problem}.",
            "I lead a team working on {method} and {method2}, and I care about robust, "
            "well-monitored models that serve {stakeholders}.",
        ),
        hub_rate=0.25, years=(6, 18),
    ),
    _Persona(
        key="founder", weight=0.10, org_types=((_S, 1.0),),
        roles=("Founder and CEO", "Co-founder and CTO", "Founder", "Co-founder and COO"),
        offers=((Kind.EMPLOYER, 1.0), (Kind.PARTNER, 0.6), (Kind.SPEAKER, 0.3)),
        seeks=((Kind.INVESTOR, 1.0), (Kind.CO_FOUNDER, 0.5), (Kind.PARTNER, 0.4),
               (Kind.MENTOR, 0.4), (Kind.JOB_SEEKER, 0.4)),
        skills=("product management", "fundraising", "go-to-market", "team leadership"),
        work_lines=(
            "We started our company to make {problem} affordable for {stakeholders}; the team "
            "uses {method} and {method2} and is piloting in {place}.",
            "Our product uses {method} to help {stakeholders} with {topic}. We have paying "
            "pilots in {place} and are preparing to scale.",
        ),
        hub_rate=0.3, years=(3, 12),
        offer_texts={Kind.PARTNER: (
            "Pilot partnerships: our {method} product for {problem}, built with {stakeholders}",
            "Technology partnership for NGOs and agencies working on {topic} in {place}",
        )},
        seek_texts={Kind.PARTNER: (
            "Distribution and pilot partners reaching {stakeholders} in {place}",
            "Partners with {data} to validate our {method} models for {problem}",
        )},
    ),
    _Persona(
        key="ngo", weight=0.12, org_types=((_N, 1.0),),
        roles=("Programme manager", "Country director", "Data and innovation lead",
               "Monitoring and evaluation specialist", "Community programmes coordinator"),
        offers=((Kind.PARTNER, 1.0), (Kind.SPEAKER, 0.3), (Kind.MENTOR, 0.2)),
        seeks=((Kind.COLLABORATOR, 1.0), (Kind.VOLUNTEER, 0.6), (Kind.PARTNER, 0.3),
               (Kind.SPEAKER, 0.1)),
        skills=("programme design", "monitoring and evaluation", "community engagement",
                "partnership building"),
        work_lines=(
            "Our programmes reach {stakeholders} across {place}, and we hold {data} that could "
            "power better tools for {problem}.",
            "I lead data and innovation work on {topic}, connecting field teams with "
            "technologists so that tools for {problem} actually get used.",
        ),
        hub_rate=0.2, years=(4, 15),
        offer_texts={Kind.PARTNER: (
            "Partnership with access to {data} in {place}",
            "Field partnerships: {data} and trusted links with {stakeholders} in {place}",
            "Pilot sites and community access for {problem} with {stakeholders}",
        )},
        seek_texts={
            Kind.COLLABORATOR: (
                "Data scientists with {method} skills to help us with {problem}",
                "Technical collaborators to turn our {data} into tools for {problem}",
                "Collaborators with {method} expertise to work on {problem} in {place}",
            ),
            Kind.PARTNER: (
                "Technology partners with proven {method} tools for {problem}",
                "Research partners to evaluate AI for {topic} with {stakeholders}",
            ),
        },
    ),
    _Persona(
        key="public_sector", weight=0.09, org_types=((_G, 0.55), (_U, 0.45)),
        roles=("Policy advisor", "Innovation officer", "Programme specialist",
               "Head of digital transformation", "Data scientist", "Technical officer"),
        offers=((Kind.PARTNER, 1.0), (Kind.SPEAKER, 0.5), (Kind.MENTOR, 0.25)),
        seeks=((Kind.COLLABORATOR, 1.0), (Kind.PARTNER, 0.5), (Kind.SPEAKER, 0.2),
               (Kind.VOLUNTEER, 0.2)),
        skills=("public policy", "digital transformation", "official statistics",
                "stakeholder engagement"),
        work_lines=(
            "I coordinate work on {topic} with {stakeholders}, and I make sure AI projects on "
            "{problem} are safe, inclusive and sustainable.",
            "My team is responsible for {topic} programmes in {place}; we want to use {method} "
            "responsibly and build local capacity.",
        ),
        hub_rate=0.15, years=(5, 20), doctor_rate=0.1,
        offer_texts={Kind.PARTNER: (
            "Programme partnership on {topic} across {place}, including access to {data}",
            "Policy engagement and pilot opportunities for {problem} in {place}",
        )},
        seek_texts={Kind.PARTNER: (
            "Implementing partners with proven {method} solutions for {problem}",
            "Startups and research groups to pilot AI for {problem} with {stakeholders}",
        )},
    ),
    _Persona(
        key="investor", weight=0.05, org_types=((_I, 0.7), (_O, 0.3)),
        roles=("Partner", "Principal", "Angel investor", "Investment manager",
               "Venture partner"),
        offers=((Kind.INVESTOR, 1.0), (Kind.MENTOR, 0.6), (Kind.SPEAKER, 0.3)),
        seeks=((Kind.PARTNER, 1.0),),
        skills=("impact investing", "venture capital", "due diligence", "portfolio support"),
        work_lines=(
            "I back early-stage teams using {method} for {topic}, with a focus on {place}; "
            "I look for founders who are close to the problem.",
            "Over {years} years I have invested in and supported impact ventures, most "
            "recently in {topic} and {problem}.",
        ),
        hub_rate=0.1, years=(6, 20),
        seek_texts={Kind.PARTNER: (
            "Startups raising pre-seed or seed rounds that use {method} for {problem}",
            "Founders building {topic} ventures in {place}",
            "Co-investors and pilot partners interested in {topic} in {place}",
        )},
    ),
    _Persona(
        key="career_changer", weight=0.06, org_types=((_I, 0.7), (_O, 0.3)),
        roles=("Software developer moving into AI", "Data analyst", "Aspiring ML engineer",
               "Statistician", "Career changer into data science"),
        offers=((Kind.JOB_SEEKER, 1.0), (Kind.VOLUNTEER, 0.5), (Kind.COLLABORATOR, 0.4)),
        seeks=((Kind.EMPLOYER, 1.0), (Kind.MENTOR, 0.6)),
        skills=("Python", "SQL", "data visualisation", "project management"),
        work_lines=(
            "After {years} years in {previous_field}, I have retrained in {method} and want to "
            "work on {problem}.",
            "I moved from {previous_field} into data science and have been building projects "
            "on {topic} with {method} and {method2}.",
        ),
        hub_rate=0.4, years=(3, 12),
    ),
)

PREVIOUS_FIELDS: tuple[str, ...] = (
    "accounting", "telecommunications", "journalism", "civil engineering", "teaching",
    "banking", "logistics", "public health", "architecture", "customer support",
)

# --------------------------------------------------------------------------------------------
# Organisations, headlines and bios.
# --------------------------------------------------------------------------------------------

GLOBAL_COMPANIES: tuple[str, ...] = (
    "Microsoft", "Google", "IBM Research", "Amazon Web Services", "Orange", "Ericsson",
    "Nokia", "SAP", "Accenture", "Deloitte", "Siemens", "Vodafone", "MTN Group", "Huawei",
)
COMPANY_STEMS: tuple[str, ...] = (
    "Baobab", "Meridian", "Zenith", "Sahel", "Andes", "Monsoon", "Kijiji", "Nova", "Delta",
    "Acacia", "Pacifica", "Atlas",
)
COMPANY_SUFFIXES: tuple[str, ...] = ("Analytics", "Technologies", "Data Systems", "Digital")
STARTUP_SUFFIXES: tuple[str, ...] = ("AI", " AI", " Labs", " Analytics", " Tech", " Systems")
FUND_TEMPLATES: tuple[str, ...] = (
    "{stem} Ventures", "{stem} Capital", "{city} Impact Fund", "{stem} Impact Partners",
)
ANGEL_TEMPLATES: tuple[str, ...] = ("{city} Angel Network", "{country} Angel Investors")
NGO_TEMPLATES: tuple[str, ...] = (
    "{country} {cause} Network", "{cause} Alliance {country}", "Data for {cause} Initiative",
    "{city} {cause} Collective", "{cause} Foundation {city}",
)
INDEPENDENT_NAMES: tuple[str, ...] = ("Independent consultant", "Freelance", "Self-employed")
HIDDEN_WORKPLACE: Mapping[OrganisationType, str] = {
    _A: "a university", _I: "a technology company", _S: "an early-stage startup",
    _N: "a non-profit", _G: "a government agency", _U: "a UN agency",
    _O: "an independent practice",
}

HEADLINES: tuple[str, ...] = (
    "{role} · {topic_title} and {method}",
    "{role} working on {problem}",
    "{role} | {method} for {topic}",
    "{role} at the intersection of {method} and {topic}",
)
HUB_HEADLINES: tuple[str, ...] = (
    "{role} · Young AI Leader, {city}",
    "{role} | {topic_title} | Young AI Leaders {city}",
)
INTROS: tuple[str, ...] = (
    "I am {a_role} at {workplace} in {city}, working on {problem}.",
    "I'm {a_role} based in {city_country}. At {workplace} I focus on {topic}, especially "
    "{problem}.",
    "{role} at {workplace}. My work sits where {method} meets {topic}, with a current focus on "
    "{problem}.",
    "Based in {city}, I work as {a_role} at {workplace}, mostly on {topic} and {problem}.",
)
CLOSINGS: tuple[str, ...] = (
    "I care about {value}, and I would like to connect with people working on {interest}.",
    "Outside my main work I am curious about {interest} and {interest2}.",
    "I believe AI for {topic} in {place} has to be built with, not for, {stakeholders}.",
    "Always happy to talk about {method}, {interest} and how to measure real impact on "
    "SDG {sdg}.",
    "Right now I am exploring {interest}; open to ideas that move the needle on {problem}.",
)
HUB_CLOSINGS: tuple[str, ...] = (
    "I help run the Young AI Leaders hub in {city}, where we organise study groups and "
    "community projects on {topic}.",
    "As part of the Young AI Leaders {city} hub, I love connecting students with practitioners "
    "working on {topic}.",
)
VALUES: tuple[str, ...] = (
    "open science", "community-led design", "responsible and inclusive AI", "data sovereignty",
    "building local capacity", "evidence over hype", "South-South collaboration",
)
# fmt: on

REGIONS: dict[str, str] = {country.code: country.region for country in COUNTRIES}
"""ISO 3166-1 alpha-2 code → UN region, for every country the generator uses."""


def hub_id(city: str) -> str:
    """The Young AI Leaders hub id for a city: `yail-` plus its lower-case ascii slug."""
    ascii_name = unicodedata.normalize("NFKD", city).encode("ascii", "ignore").decode()
    slug = "-".join("".join(ch if ch.isalnum() else " " for ch in ascii_name.lower()).split())
    return f"yail-{slug}"


# Precomputed once so that a member costs a handful of `Random` calls, not table scans.
_COUNTRY_CUM = tuple(accumulate(c.weight for c in COUNTRIES))
_DOMAIN_CUM = tuple(accumulate(d.weight for d in DOMAINS))
_PERSONA_CUM = tuple(accumulate(p.weight for p in PERSONAS))
_CITY_CUM: Mapping[str, tuple[float, ...]] = {
    c.code: tuple(accumulate(1.0 / (rank + 1) for rank in range(len(c.cities)))) for c in COUNTRIES
}
_ORG_TYPES: Mapping[str, tuple[tuple[OrganisationType, ...], tuple[float, ...]]] = {
    p.key: (tuple(t for t, _ in p.org_types), tuple(accumulate(w for _, w in p.org_types)))
    for p in PERSONAS
}
_HUB_IDS: Mapping[str, str] = {city: hub_id(city) for c in COUNTRIES for city in c.cities}


class _Draw:
    """Draws built on `Random.random` alone: several times cheaper than `choice`, `choices`,
    `sample` and `randint`, which matters at 55,000 members × ~30 draws."""

    __slots__ = ("_random",)

    def __init__(self, rng: random.Random) -> None:
        self._random = rng.random

    def chance(self, probability: float) -> bool:
        return self._random() < probability

    def one(self, items: Sequence[_T]) -> _T:
        return items[int(self._random() * len(items))]

    def weighted(self, items: Sequence[_T], cum_weights: Sequence[float]) -> _T:
        point = self._random() * cum_weights[-1]
        return items[bisect(cum_weights, point, 0, len(items) - 1)]

    def some(self, items: Sequence[_T], count: int) -> list[_T]:
        """`count` distinct items (a partial Fisher–Yates shuffle)."""
        pool = list(items)
        for i in range(count):
            j = i + int(self._random() * (len(pool) - i))
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:count]

    def between(self, low: int, high: int) -> int:
        return low + int(self._random() * (high - low + 1))


def _pick_kinds(draw: _Draw, table: tuple[tuple[Kind, float], ...]) -> list[Kind]:
    return [kind for kind, rate in table if rate >= 1.0 or draw.chance(rate)]


def _a(phrase: str) -> str:
    """Prefix "a" or "an" by sound: "an AI fellow", "an MSc student", "a PhD candidate"."""
    first = phrase.split()[0]
    acronym = len(first) > 1 and first[1].isupper()
    vowel_sound = first[0] in "aeiouAEIOU" or (acronym and first[0] in "AEFHILMNORSX")
    return f"{'an' if vowel_sound else 'a'} {phrase}"


def _lower_role(role: str) -> str:
    """Lower-case a role for mid-sentence use, keeping acronyms ("MSc", "PhD", "AI")."""
    first = role.split()[0]
    if len(first) > 1 and any(ch.isupper() for ch in first[1:]):
        return role
    return role[0].lower() + role[1:]


def _organisation(
    draw: _Draw,
    org_type: OrganisationType,
    persona: _Persona,
    domain: Domain,
    country: _Country,
    city: str,
) -> str:
    """A plausible organisation name for the member's type, domain and place."""
    fill = {"country": country.name, "city": city, "cause": domain.cause}
    if org_type is _A:
        return draw.one(country.universities)
    if org_type is _S:
        return draw.one(domain.startup_stems) + draw.one(STARTUP_SUFFIXES)
    if org_type is _N:
        return draw.one(NGO_TEMPLATES).format_map(fill)
    if org_type is _G:
        return draw.one(domain.public_bodies).format_map(fill)
    if org_type is _U:
        return "ITU" if draw.chance(0.2) else draw.one(domain.un_agencies)
    if persona.key == "investor":
        templates = FUND_TEMPLATES if org_type is _I else ANGEL_TEMPLATES
        return draw.one(templates).format(stem=draw.one(COMPANY_STEMS), **fill)
    if org_type is _I:
        if draw.chance(0.4):
            return draw.one(GLOBAL_COMPANIES)
        return f"{draw.one(COMPANY_STEMS)} {draw.one(COMPANY_SUFFIXES)}"
    return draw.one(INDEPENDENT_NAMES)


def _languages(draw: _Draw, country: _Country) -> list[str]:
    """The country's main language, sometimes a second local one, often English or French."""
    languages = [country.languages[0]]
    if len(country.languages) > 1 and draw.chance(0.5):
        languages.append(draw.one(country.languages[1:]))
    if draw.chance(0.8):
        languages.append("en")
    if draw.chance(0.3 if country.region == _AF else 0.08):
        languages.append("fr")
    return list(dict.fromkeys(languages))


def _sdgs(draw: _Draw, domain: Domain, second: Domain) -> list[int]:
    """1–3 SDGs: the domain's characteristic goal first, sometimes one from a side interest."""
    count = draw.weighted((1, 2, 3), (0.35, 0.75, 1.0))
    goals = [domain.sdgs[0], *draw.some(domain.sdgs[1:], count - 1)]
    if len(goals) < 3 and draw.chance(0.25):
        goals.append(second.sdgs[0])
    return goals


def _interests(draw: _Draw, domain: Domain, second: Domain, expertise: list[str]) -> list[str]:
    """2–4 interests: a side domain's topics, a method to learn, something general."""
    taken = {tag.casefold() for tag in expertise}
    candidates = [
        *draw.some(second.topics, 2),
        draw.one(domain.methods),
        draw.one(second.methods),
        draw.one(GENERAL_INTERESTS),
    ]
    fresh = [tag for tag in dict.fromkeys(candidates) if tag.casefold() not in taken]
    return fresh[: draw.between(2, 4)]


def _intent_text(
    draw: _Draw,
    kinds: list[Kind],
    templates: Mapping[Kind, tuple[str, ...]],
    overrides: Mapping[Kind, tuple[str, ...]],
    slots: Mapping[str, str],
) -> str:
    """One sentence per kind, in the member's own domain vocabulary."""
    sentences = [draw.one(overrides.get(kind) or templates[kind]) for kind in kinds]
    return " ".join(sentence.format_map(slots) + "." for sentence in sentences)


def generate_member(index: int, rng: random.Random, id_prefix: str = "m-") -> BulkProfileLine:
    """One validated synthetic member drawn from `rng`, with id `{id_prefix}{index:05d}`."""
    draw = _Draw(rng)
    persona = draw.weighted(PERSONAS, _PERSONA_CUM)
    domain = draw.weighted(DOMAINS, _DOMAIN_CUM)
    second = draw.weighted(DOMAINS, _DOMAIN_CUM)
    if second is domain:
        second = DOMAINS[(DOMAINS.index(domain) + 1) % len(DOMAINS)]
    country = draw.weighted(COUNTRIES, _COUNTRY_CUM)
    city = draw.weighted(country.cities, _CITY_CUM[country.code])
    firsts, lasts = NAME_POOLS[draw.one(country.pools)]
    title = "Dr. " if draw.chance(persona.doctor_rate) else ""
    display_name = f"{title}{draw.one(firsts)} {draw.one(lasts)}"

    org_type = draw.weighted(*_ORG_TYPES[persona.key])
    org_name = _organisation(draw, org_type, persona, domain, country, city)
    show_organisation = draw.chance(SHOW_ORGANISATION_RATE)

    # Topic tags come only from the member's own domain, so they always agree with the SDGs.
    methods = draw.some(domain.methods, 2)
    topics = draw.some(domain.topics, draw.between(1, 2))
    if persona.key == "investor":
        expertise = [*topics, *draw.some(persona.skills, 2)]
    else:
        skills = [draw.one(persona.skills)] if draw.chance(0.4) else []
        expertise = [*topics, *methods[: draw.between(1, 2)], *skills]
    interests = _interests(draw, domain, second, expertise)
    sdgs = _sdgs(draw, domain, second)
    hub = _HUB_IDS[city] if draw.chance(persona.hub_rate) else None

    role = draw.one(persona.roles)
    slots = {
        "method": methods[0],
        "method2": methods[1],
        "topic": topics[0],
        "topic_title": topics[0][0].upper() + topics[0][1:],
        "problem": draw.one(domain.problems),
        "data": draw.one(domain.data),
        "stakeholders": draw.one(domain.stakeholders),
        "place": country.place if draw.chance(0.5) else country.subregion,
        "city": city,
        "city_country": city if city == country.name else f"{city}, {country.name}",
        "role": role,
        "a_role": _a(_lower_role(role)),
        "workplace": (
            org_name
            if show_organisation and org_name not in INDEPENDENT_NAMES
            else HIDDEN_WORKPLACE[org_type]
        ),
        "years": str(draw.between(*persona.years)),
        "previous_field": draw.one(PREVIOUS_FIELDS),
        "ticket": draw.one(TICKET_SIZES),
        "value": draw.one(VALUES),
        "interest": interests[0],
        "interest2": interests[1],
        "sdg": str(sdgs[0]),
    }

    offers = _pick_kinds(draw, persona.offers)
    seeks = _pick_kinds(draw, persona.seeks)
    headlines = HUB_HEADLINES if hub and draw.chance(0.4) else HEADLINES
    paragraphs = [draw.one(INTROS)]
    if draw.chance(0.8):
        paragraphs.append(draw.one(persona.work_lines))
    if draw.chance(0.6):
        paragraphs.append(draw.one(HUB_CLOSINGS if hub and draw.chance(0.6) else CLOSINGS))

    return BulkProfileLine(
        member_id=f"{id_prefix}{index:05d}",
        display_name=display_name,
        headline=draw.one(headlines).format_map(slots),
        bio="\n\n".join(paragraph.format_map(slots) for paragraph in paragraphs),
        expertise=expertise,
        interests=interests,
        sdgs=sdgs,
        offers=Intent(
            kinds=offers,
            text=_intent_text(draw, offers, OFFER_TEMPLATES, persona.offer_texts, slots),
        ),
        seeks=Intent(
            kinds=seeks,
            text=_intent_text(draw, seeks, SEEK_TEMPLATES, persona.seek_texts, slots),
        ),
        country=country.code,
        languages=_languages(draw, country),
        organisation=Organisation(name=org_name, type=org_type),
        hubs=[hub] if hub else [],
        visibility=Visibility(
            discoverable=draw.chance(DISCOVERABLE_RATE),
            show_organisation=show_organisation,
        ),
    )


def generate_members(
    count: int, seed: int = 42, id_prefix: str = "m-"
) -> Iterator[BulkProfileLine]:
    """`count` members from one `random.Random(seed)`: same seed, same members, in order.

    The stream is prefix-stable: the first N members of a larger run equal a run of N, so the
    demo's 2,000 members are the first 2,000 of the 55,000-member benchmark.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    rng = random.Random(seed)
    for index in range(count):
        yield generate_member(index, rng, id_prefix)
